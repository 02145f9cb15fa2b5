#!/bin/sh
# make bench, in the guest: the simulated GPU and vgem (the kernel's virtual
# GEM driver, for the DRM rows), mockgpu over both, a CUSE forwarder beside
# them, then the benchmark.
M=/mockgpu/modules
insmod $M/realgpu.ko vram_mb=512 || exit 1
# vgem's GEM helper first (drm_shmem_helper.ko; older kernels:
# drm_gem_shmem_helper.ko), then vgem; its card node by tests/guest/vgem-nodes.sh.
drm=""
for h in drm_shmem_helper drm_gem_shmem_helper; do
  [ -e "$M/$h.ko" ] && { insmod "$M/$h.ko"; break; }
done
if insmod $M/vgem.ko; then
  . /mockgpu/tests/vgem-nodes.sh
  [ -e "/dev/dri/$card" ] && drm=/dev/dri/$card
fi
if [ -n "$drm" ] && insmod $M/mockgpu.ko "targets=/dev/realgpu,$drm"; then
  export BENCH_DRM=$drm
else
  echo "# vgem not loaded or not a target: no DRM rows"
  insmod $M/mockgpu.ko targets=/dev/realgpu || exit 1
fi
cuse_realgpu -f >/tmp/cuse.log 2>&1 &
for i in 1 2 3 4 5 6 7 8 9 10; do [ -e /dev/cuse-realgpu ] && break; sleep 0.2; done
[ -e /dev/cuse-realgpu ] || { echo "# CUSE forwarder did not start:"; cat /tmp/cuse.log; }
echo "# machine: $(nproc) vCPUs (QEMU TCG${BENCH_CLOCK:+, $BENCH_CLOCK}), kernel $(uname -r) without debug options"
bench
# Scaling needs vCPUs that run in parallel, which instruction counting does not give.
[ -n "$BENCH_CLOCK" ] && exit 0
echo "# separate run: scaling and many tenants"
timeout 300 bench --extras
