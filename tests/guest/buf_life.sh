#!/bin/sh
# The simulated GPU's buffers stay charged while a mapping, an export, a job
# or a closed file's mapping keeps them (tests/selftests/buf_life.c).
M=/mockgpu/modules
insmod $M/realgpu.ko vram_mb=64 || { echo "Bail out! insmod realgpu failed"; exit 1; }
insmod $M/mockgpu.ko || { echo "Bail out! insmod mockgpu failed"; exit 1; }
buf_life /dev/realgpu
rc=$?
rmdir /sys/fs/cgroup/buf_life 2>/dev/null
exit $rc
