#!/bin/sh
# Device memory on a DRM target (vgem) charged per GEM object for its whole
# life, from kernel copies of the arguments (tests/selftests/gem_quota.c).
M=/mockgpu/modules
for h in drm_shmem_helper drm_gem_shmem_helper; do
  [ -e "$M/$h.ko" ] && { insmod "$M/$h.ko" 2>/dev/null; break; }
done
insmod $M/vgem.ko || { echo "Bail out! insmod vgem failed"; exit 1; }
. /mockgpu/tests/vgem-nodes.sh
insmod $M/mockgpu.ko || { echo "Bail out! insmod mockgpu failed"; exit 1; }
gem_quota "/dev/dri/$card" "/dev/dri/$render"
rc=$?
rmdir /sys/fs/cgroup/gem_quota 2>/dev/null
exit $rc
