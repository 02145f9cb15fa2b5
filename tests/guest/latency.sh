#!/bin/sh
# Latency isolation of compute shares (tests/selftests/latency.c): a tenant at
# 30% beside one at 70% that submits one-second jobs back to back.
M=/mockgpu/modules
slice_us=10000	# realgpu's default, stated: latency.c derives its bounds from it
insmod $M/realgpu.ko slice_us=$slice_us || { echo "Bail out! insmod realgpu failed"; exit 1; }
insmod $M/mockgpu.ko targets=/dev/realgpu || { echo "Bail out! insmod mockgpu failed"; exit 1; }
exec latency /dev/mockgpu/realgpu $slice_us
