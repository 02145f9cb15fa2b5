#!/bin/sh
# The simulated GPU, direct and through mockgpu (tests/selftests/proxy_realgpu.c).
M=/mockgpu/modules
insmod $M/realgpu.ko vram_mb=64 || { echo "Bail out! insmod realgpu failed"; exit 1; }
insmod $M/mockgpu.ko targets=/dev/realgpu || { echo "Bail out! insmod mockgpu failed"; exit 1; }
proxy_realgpu /dev/realgpu /dev/mockgpu/realgpu
