#!/bin/sh
# virtio-gpu's own allocation ioctl charged through the proxy
# (tests/selftests/virtio_quota.c), on QEMU's virtio-gpu-pci (scripts/vm.sh).
M=/mockgpu/modules
. /mockgpu/tests/drm-lib.sh
load virtio_gpu || { echo "Bail out! cannot load virtio-gpu"; exit 1; }
render=$(drm_node virtio_gpu renderD) ||
  { echo "Bail out! virtio-gpu has no render node (is -device virtio-gpu-pci there?)"; exit 1; }
load mockgpu || { echo "Bail out! insmod mockgpu failed"; exit 1; }
virtio_quota "/dev/dri/$render"
rc=$?
rmmod mockgpu 2>/dev/null
for m in virtio_gpu drm_kms_helper drm_shmem_helper virtio_dma_buf; do
  grep -q "^$m " /proc/modules && rmmod "$m" 2>/dev/null
done
rmdir /sys/fs/cgroup/virtio_quota 2>/dev/null
exit $rc
