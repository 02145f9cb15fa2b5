#!/usr/bin/env bash
# Boots the test kernel under QEMU (TCG) with mockgpu's modules, test programs
# and tools in an initramfs, runs one script in the guest, and returns its exit
# status. The run fails if the guest log shows any kernel splat (oops, WARN,
# BUG, KASAN, lockdep, hung task, kmemleak report), even if the script passed,
# and if the guest does not finish within the timeout.
#
#   scripts/vm.sh --run SCRIPT [--files DIR] [--kdir DIR] [--timeout SEC] [--out DIR] [--icount]
#
# --icount runs the guest with QEMU's instruction counting (-icount shift=0):
# its clock then advances 1 ns per guest instruction (and skips idle time), so
# timings in the guest are instruction counts, free of the host's noise.
#
# In the guest: modules in /mockgpu/modules, programs and tools on PATH
# (/mockgpu/bin), FILES in /files (the working directory), debugfs, configfs
# and cgroup2 mounted, a virtio-gpu PCI device (its driver not loaded). The
# script's output is streamed to the host.
#
# MOCKGPU_MODULES_DIR=DIR takes the project's modules from DIR instead of
# build/modules/<kernel dir name>.
set -euo pipefail
. "$(dirname "$0")/env.sh"
LOG_TAG=vm

run="" files="" kdir="${KDIR:-}" timeout=900 out="" mem=1G accel=(-accel tcg)
while [ $# -gt 0 ]; do
  case "$1" in
    --run) run=$2; shift 2 ;;
    --files) files=$2; shift 2 ;;
    --kdir) kdir=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --icount) accel=(-accel tcg -icount shift=0,sleep=off); shift ;;
    *) log "unknown argument $1"; exit 2 ;;
  esac
done
[ -n "$run" ] && [ -f "$run" ] || { log "--run SCRIPT is required and must exist"; exit 2; }
[ -n "$kdir" ] || kdir=$("$MOCKGPU_TOP/scripts/kernel.sh" debug)
out=${out:-$MOCKGPU_TOP/build/vm/$(basename "$run" .sh)}
bzimage="$kdir/arch/x86/boot/bzImage"
[ -f "$bzimage" ] || { log "no kernel image at $bzimage"; exit 1; }

mkdir -p "$out"; out=$(cd "$out" && pwd); rm -rf "${out:?}"/*
root="$out/root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,files,mockgpu/modules,mockgpu/bin,mockgpu/tests}
cp /bin/busybox "$root/bin/busybox"
# glibc's loader and libc, for the dynamically linked programs (the bench's
# LD_PRELOAD row, crun, drmdevice, drm_discover); everything else is static.
mkdir -p "$root/lib64" "$root/lib/x86_64-linux-gnu"
cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
cp -L /lib/x86_64-linux-gnu/libc.so.6 "$root/lib/x86_64-linux-gnu/"
# bundle_libs FILE: copy the shared libraries FILE links (ldd), each at its
# own path, as the loader expects; nothing for a static program.
bundle_libs() {
  local lib
  for lib in $(ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}
# Distribution programs the guest tests run, at their own paths, with their
# libraries (scripts/deps.sh installs them): crun, an OCI runtime
# (tests/guest/crun.sh: libsystemd, libseccomp, libcap, libyajl and theirs),
# libdrm's drmdevice (tests/guest/discovery.sh: libdrm), and podman with
# conmon (tests/guest/podman.sh: libgpgme, libdevmapper, libglib and theirs).
for prog in /usr/bin/crun /usr/bin/drmdevice /usr/bin/modetest /usr/bin/proptest \
    /usr/bin/podman /usr/bin/conmon; do
  if [ -x "$prog" ]; then
    mkdir -p "$root$(dirname "$prog")"
    cp -L "$prog" "$root$prog"
    bundle_libs "$prog"
  else
    log "no $prog (scripts/deps.sh installs it): the guest runs without it"
  fi
done
# podman's distribution defaults (containers-common: containers.conf and the
# default seccomp profile); tests/guest/podman.sh writes its own settings to
# /etc/containers in the guest.
[ -d /usr/share/containers ] && mkdir -p "$root/usr/share" && cp -rL /usr/share/containers "$root/usr/share/"
for applet in $(/bin/busybox --list); do
  [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
# The project's modules (MOCKGPU_MODULES_DIR overrides where they come from,
# e.g. to run the tests against another build), plus the kernel's DRM drivers
# vgem and virtio-gpu (-device virtio-gpu-pci below) and every module they
# depend on (modinfo). The drivers are not loaded unless a test loads them,
# so vgem is card0 for every suite but tests/guest/discovery.sh.
modules_dir=${MOCKGPU_MODULES_DIR:-$MOCKGPU_TOP/build/modules/$(basename "$kdir")}
cp "$modules_dir"/*.ko "$root/mockgpu/modules/" 2>/dev/null || true
declare -A kmod_file=()
while read -r f; do
  b=$(basename "$f" .ko)
  kmod_file[${b//-/_}]=$f
done < <(find "$kdir" -name '*.ko')
want=(vgem virtio_gpu)
while [ ${#want[@]} -gt 0 ]; do
  m=${want[0]}; want=("${want[@]:1}")
  f=${kmod_file[$m]:-}
  { [ -n "$f" ] && [ ! -e "$root/mockgpu/modules/$(basename "$f")" ]; } || continue
  cp "$f" "$root/mockgpu/modules/"
  deps=$(modinfo -F depends "$f")
  [ -n "$deps" ] && want+=(${deps//,/ })
done
cp -r "$MOCKGPU_TOP"/build/guest/bin/. "$root/mockgpu/bin/" 2>/dev/null || true
# The guest programs linked dynamically (drm_discover: libdrm).
for f in "$root"/mockgpu/bin/*; do
  [ -f "$f" ] && [ -x "$f" ] && bundle_libs "$f"
done
cp -r "$MOCKGPU_TOP"/tests/guest/. "$root/mockgpu/tests/"
[ -n "$files" ] && cp -r "$files"/. "$root/files/"
cp "$run" "$root/run.sh"

cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
/bin/busybox mount -t tmpfs tmpfs /tmp
/bin/busybox mount -t debugfs debugfs /sys/kernel/debug
/bin/busybox mount -t configfs configfs /sys/kernel/config 2>/dev/null
/bin/busybox mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
export PATH=/mockgpu/bin:/bin:/usr/bin HOME=/tmp
# Leaks found at boot are not ours: only what the run leaks is reported.
[ -e /sys/kernel/debug/kmemleak ] && echo clear > /sys/kernel/debug/kmemleak
cd /files
# Kernel messages after this line belong to the run (see the splat check).
echo "MOCKGPU-RUN-START" > /dev/kmsg
{ sh /run.sh 2>&1; echo "MOCKGPU-RC $?"; } | tee /dev/ttyS1
if [ -e /sys/kernel/debug/kmemleak ]; then
  echo scan > /sys/kernel/debug/kmemleak
  echo scan > /sys/kernel/debug/kmemleak
  leaks=$(cat /sys/kernel/debug/kmemleak)
  if [ -n "$leaks" ]; then
    echo "MOCKGPU-KMEMLEAK"
    echo "$leaks" | head -n 60
  fi
fi
echo "MOCKGPU-END"
poweroff -f
INIT
chmod +x "$root/init" "$root/run.sh"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1 > "$out/initrd.gz")

log "booting $(basename "$kdir") ($(du -h "$out/initrd.gz" | cut -f1) initramfs), timeout ${timeout}s"
start=$(date +%s)
set +e
timeout -k 10 "$timeout" qemu-system-x86_64 "${accel[@]}" -cpu max -smp 2 -m "$mem" \
  -display none -monitor none -no-reboot \
  -serial stdio -serial "file:$out/tests.log" \
  -device virtio-gpu-pci \
  -kernel "$bzimage" -initrd "$out/initrd.gz" \
  -append "console=ttyS0 panic=-1 loglevel=7 kasan.fault=report" \
  </dev/null 2>&1 | tee "$out/console.log"
qrc=${PIPESTATUS[0]}
set -e
log "guest ran $(( $(date +%s) - start )) s"

status=0
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
  log "FAIL: the guest did not finish within ${timeout}s (killed)"
  status=1
fi
tr -d '\r' < "$out/tests.log" > "$out/tests.txt"
rc=$(sed -n 's/^MOCKGPU-RC \([0-9]*\)$/\1/p' "$out/tests.txt" | tail -n1)
if [ -z "$rc" ]; then
  log "FAIL: the guest script did not finish (crash, panic or timeout)"
  status=1
elif [ "$rc" != 0 ]; then
  log "FAIL: the guest script exited $rc"
  status=1
fi
# Kernel splats: only lines the kernel printed (they carry a timestamp).
splat='WARNING:|BUG:|Oops|KASAN|kernel BUG|general protection fault|circular locking|recursive locking|lock held when returning|inconsistent lock state|suspicious RCU usage|INFO: task .* blocked|soft lockup|hard LOCKUP|rcu_.*stall|Kernel panic|UBSAN|refcount_t:|list_add corruption|list_del corruption|sleeping function called from invalid context'
# Before the run starts (boot, no module of ours loaded) a splat is reported
# but not counted: under TCG the kernel sometimes reports one in early CPU
# setup (see README). From the start of the run on, any splat fails it.
tr -d '\r' < "$out/console.log" | grep -E '^\[ *[0-9]+\.[0-9]+\]' > "$out/kernel.log" || true
sed -n '/MOCKGPU-RUN-START/,$p' "$out/kernel.log" > "$out/kernel-run.log"
if ! grep -q MOCKGPU-RUN-START "$out/kernel.log"; then
  cp "$out/kernel.log" "$out/kernel-run.log"   # the run never started: judge everything
fi
if grep -Eq "$splat" "$out/kernel-run.log"; then
  log "FAIL: kernel splat in the guest log:"
  grep -E -m5 -A25 "$splat" "$out/kernel-run.log" >&2 || true
  status=1
elif sed '/MOCKGPU-RUN-START/,$d' "$out/kernel.log" | grep -Eq "$splat"; then
  log "WARNING: kernel splat during boot, before the run started (not counted):"
  sed '/MOCKGPU-RUN-START/,$d' "$out/kernel.log" | grep -E -m2 -A8 "$splat" >&2 || true
fi
if tr -d '\r' < "$out/console.log" | grep -q '^MOCKGPU-KMEMLEAK'; then
  log "FAIL: kmemleak found leaks during the run:"
  tr -d '\r' < "$out/console.log" | sed -n '/^MOCKGPU-KMEMLEAK/,/^MOCKGPU-END/p' | head -n 40 >&2
  status=1
fi
[ $status = 0 ] && log "ok (guest script exited 0, no kernel splat)"
exit $status
