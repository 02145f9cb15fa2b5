#!/bin/sh
# The stress run (tests/selftests/stress.c), bounded for make check:
# STRESS_SECONDS (default 15) with 3 tenants of 3 workers.
M=/mockgpu/modules
insmod $M/realgpu.ko vram_mb=64 || { echo "Bail out! insmod realgpu failed"; exit 1; }
ln -sf /dev/realgpu /tmp/realgpu2
insmod $M/mockgpu.ko targets=/dev/realgpu,/tmp/realgpu2 || { echo "Bail out! insmod mockgpu failed"; exit 1; }
exec stress -t "${STRESS_SECONDS:-15}" -T "${STRESS_TENANTS:-3}" -w "${STRESS_WORKERS:-3}" -s "${STRESS_SEED:-1}"
