#!/bin/sh
# Per-namespace quotas and the control ABI (tests/selftests/quota.c).
M=/mockgpu/modules
insmod $M/realgpu.ko vram_mb=64 || { echo "Bail out! insmod realgpu failed"; exit 1; }
insmod $M/mockgpu.ko targets=/dev/realgpu || { echo "Bail out! insmod mockgpu failed"; exit 1; }
exec quota /dev/mockgpu/realgpu
