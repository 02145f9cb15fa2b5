#!/bin/sh
# mockgpu tried as a hostile tenant would (tests/selftests/hostile.c, issue 10):
# nested namespaces and cgroups, namespace churn, real-device fd hunting,
# removal through an old bind mount, access and credentials, map_files.
# Arguments go to the program, e.g. `hostile.sh --churn 100000`.
M=/mockgpu/modules
insmod $M/realgpu.ko vram_mb=64 || { echo "Bail out! insmod realgpu failed"; exit 1; }
# vgem's render node for the render-group test (optional: skipped without it).
for h in drm_shmem_helper drm_gem_shmem_helper; do
  [ -e "$M/$h.ko" ] && { insmod "$M/$h.ko" 2>/dev/null; break; }
done
render=""
if [ -e "$M/vgem.ko" ] && insmod "$M/vgem.ko" 2>/dev/null; then
  for n in /sys/class/drm/renderD*; do
    [ "$(basename "$(readlink -f "$n/device")")" = vgem ] && { render=/dev/dri/${n##*/}; break; }
  done
fi
# Unconfigured tenants get 1 MiB and 3 files: every nesting level must share them.
mb=1 files=3
insmod $M/mockgpu.ko targets=/dev/realgpu unconfigured=2 default_memory_mb=$mb default_files=$files ||
  { echo "Bail out! insmod mockgpu failed"; exit 1; }
hostile --defaults $mb:$files ${render:+--render "$render"} "$@" /dev/realgpu /dev/mockgpu/realgpu
