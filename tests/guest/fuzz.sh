#!/bin/sh
# The seeded fuzzer (tests/selftests/fuzz.c), bounded for make check:
# FUZZ_CALLS calls (default 50000) from seed FUZZ_SEED (default 1).
M=/mockgpu/modules
insmod $M/realgpu.ko vram_mb=64 || { echo "Bail out! insmod realgpu failed"; exit 1; }
insmod $M/mockgpu.ko targets=/dev/realgpu || { echo "Bail out! insmod mockgpu failed"; exit 1; }
exec fuzz -s "${FUZZ_SEED:-1}" -n "${FUZZ_CALLS:-50000}" -d /dev/mockgpu/realgpu
