#!/bin/sh
# Third-party programs through the proxy as through the real node: libdrm's
# own test tools (Debian's libdrm-tests: modetest, proptest) on virtio-gpu's
# card node (QEMU's virtio-gpu-pci, scripts/vm.sh), a KMS driver.
#
# 1. Run direct, then in a private mount namespace with the proxy
#    bind-mounted at the real path (found by driver name, drmOpen): the
#    dumps of every KMS object and property, and a mode set (a dumb buffer,
#    AddFB, SetCrtc as DRM master, then teardown), print the same and exit
#    the same.
# 2. The same mode set in a container of `mockgpuctl run` (the proxy at the
#    real path, limits on its tenant): the same transcript under a 16 MiB
#    limit, charged the framebuffer's dumb buffer exactly while the mode is
#    set (the kernel's dumb size: width * 4 * height, page-rounded) and
#    nothing after; under a 1 MiB limit modetest's buffer is refused with
#    EDQUOT, which it reports as the kernel's error.
. /mockgpu/tests/ktap.sh
. /mockgpu/tests/drm-lib.sh
plan 7
T=/tmp/libdrm_tools
rm -rf $T; mkdir -p $T
unload_all() {
  for m in mockgpu virtio_gpu drm_kms_helper drm_shmem_helper virtio_dma_buf; do
    grep -q "^$m " /proc/modules && { rmmod "$m" 2>&1 | sed 's/^/# /'; }
  done
}
trap unload_all EXIT
for p in modetest proptest; do
  command -v $p > /dev/null ||
    { echo "Bail out! no $p in the guest (scripts/deps.sh installs libdrm-tests)"; exit 1; }
done
load virtio_gpu || { echo "Bail out! cannot load virtio-gpu"; exit 1; }
CARD=$(drm_node virtio_gpu card) ||
  { echo "Bail out! virtio-gpu has no card node (is -device virtio-gpu-pci there?)"; exit 1; }
insmod $M/mockgpu.ko targets=/dev/dri/$CARD || { echo "Bail out! insmod mockgpu failed"; exit 1; }
grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts || mount -t cgroup2 none /sys/fs/cgroup

# run_all PHASE SUFFIX: the dumps (PHASE dump), or a mode set (PHASE set),
# each with its exit status. Both dumps run before any mode set, which
# leaves the encoder bound to the CRTC.
cat > $T/run_all.sh <<'SH'
case $1 in
dump)
  modetest -M virtio_gpu > $T/dump.$2 2>&1; echo "exit $?" >> $T/dump.$2
  proptest -M virtio_gpu > $T/props.$2 2>&1; echo "exit $?" >> $T/props.$2 ;;
set)
  modetest -M virtio_gpu -r < /dev/null > $T/setmode.$2 2>&1; echo "exit $?" >> $T/setmode.$2 ;;
esac
SH
export T
# through PHASE: run_all in a private mount namespace, the proxy at the real path.
through() {
  unshare -m sh -c "mount --bind /dev/mockgpu/$CARD /dev/dri/$CARD && sh $T/run_all.sh $1 proxy" 2>&1 |
    sed 's/^/# /'
}
for phase in dump set; do
  sh $T/run_all.sh $phase direct
  through $phase
done
echo "# modetest -r, direct:"; sed 's/^/#   /' $T/setmode.direct
# same WHAT: direct and through the proxy alike, and the tool succeeded.
same() {
  grep -qx 'exit 0' $T/$1.direct || { echo "direct run failed:"; tail -n 5 $T/$1.direct; return 1; }
  diff -u $T/$1.direct $T/$1.proxy
}
objects() { same dump && echo "$(grep -c . $T/dump.direct) lines" && grep -q '^Connectors:' $T/dump.direct; }
check "modetest: every KMS object and property, the same through the proxy" objects
check "proptest: every property, the same through the proxy" same props
mode_set() { same setmode && grep -q '^setting mode ' $T/setmode.direct; }
check "modetest -r: a mode set on a dumb buffer as DRM master, the same through the proxy" mode_set

# In a container with limits: modetest holds the mode until its stdin closes.
mkfifo $T/hold
mockgpuctl run --target $CARD --memory 16M -- modetest -M virtio_gpu -r < $T/hold \
  > $T/setmode.limited 2>&1 &
run=$!
exec 3> $T/hold
# The framebuffer the mode needs: "setting mode WxH-..." (32 bpp, no padding
# at these widths), page-rounded.
mode=$(sed -n 's/^setting mode \([0-9]*\)x\([0-9]*\)-.*/\1 \2/p' $T/setmode.direct)
set -- $mode
fb=$(( ($1 * 4 * $2 + 4095) / 4096 * 4096 ))
held=""
for i in $(seq 1 100); do
  mockgpuctl usage --json > $T/usage.held 2>&1
  grep -Eq "\"memory_bytes\": $fb,?\$" $T/usage.held && { held=1; break; }
  sleep 0.1
done
exec 3>&-
wait $run; echo "exit $?" >> $T/setmode.limited
mockgpuctl usage --json > $T/usage.after 2>&1
limited_same() { sed 's/^/# /' $T/setmode.limited; diff -u $T/setmode.direct $T/setmode.limited; }
check "modetest -r in a container limited to 16 MiB: the same transcript" limited_same
charged_fb() {
  echo "framebuffer $mode: $fb bytes"
  [ -n "$held" ] || { grep -A4 '"usage"' $T/usage.held; return 1; }
}
check "while the mode is set, the container is charged the framebuffer exactly ($fb bytes)" charged_fb
none_after() {
  head -n1 $T/usage.after | grep -q '^\[' || { cat $T/usage.after; return 1; }
  ! grep '"memory_bytes": [1-9]' $T/usage.after | grep -v 16777216
}
check "when modetest ends, no charge remains" none_after
mockgpuctl run --target $CARD --memory 1M -- modetest -M virtio_gpu -r < /dev/null \
  > $T/setmode.refused 2>&1
refused() { cat $T/setmode.refused; grep -qx 'failed to create dumb buffer: Disk quota exceeded' $T/setmode.refused; }
check "under a 1 MiB limit, modetest's framebuffer is refused: EDQUOT" refused
done_testing
