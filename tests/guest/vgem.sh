#!/bin/sh
# A real DRM client cannot tell a mockgpu proxy of vgem's nodes from the nodes
# themselves: proxy_vgem runs the same DRM calls (version, caps, dumb buffers,
# mmap, PRIME, vgem fences, poll/read, bad ioctls and pointers, fdinfo, ...)
# on the render node and the primary node, directly and through their
# proxies, and compares what it sees (tests/selftests/proxy_vgem.c).
M=/mockgpu/modules
note() { echo "# $*"; }
# load FILE [PARAMS...]: insmod unless already loaded; failures become comments.
load() {
  name=$(basename "$1" .ko)
  grep -q "^$name " /proc/modules && return 0
  out=$(insmod "$@" 2>&1) || { note "insmod $*: $out"; return 1; }
}
# vgem's GEM helper is drm_shmem_helper.ko (older kernels: drm_gem_shmem_helper.ko).
for h in drm_shmem_helper drm_gem_shmem_helper; do
  [ -e "$M/$h.ko" ] && { load "$M/$h.ko"; break; }
done
load "$M/vgem.ko"
. /mockgpu/tests/vgem-nodes.sh
load "$M/mockgpu.ko" "targets=/dev/dri/$render,/dev/dri/$card"
/mockgpu/bin/proxy_vgem "/dev/dri/$render" "/dev/mockgpu/$render" \
  "/dev/dri/$card" "/dev/mockgpu/$card"
rc=$?
for m in mockgpu vgem drm_shmem_helper drm_gem_shmem_helper; do
  grep -q "^$m " /proc/modules && { rmmod "$m" 2>&1 | sed 's/^/# /'; }
done
exit $rc
