#!/usr/bin/env bash
# Builds mockgpu through Debian's dkms, as a host operator installs it, against
# the cached test kernel tree (or KDIR): dkms add, build, checks the module,
# dkms remove. dkms works in private trees under a temporary directory, so the
# machine's /usr/src, /var/lib/dkms and /lib/modules are not touched.
#
#   scripts/dkms-check.sh            against the cached debug kernel
#   KDIR=/path/to/build scripts/dkms-check.sh
#
# Also checks that dkms skips a kernel without CONFIG_RUST (BUILD_EXCLUSIVE_CONFIG).
# Exits non-zero on any failure; prints what it does and how long it took.
set -euo pipefail
. "$(dirname "$0")/env.sh"
LOG_TAG=dkms
start=$(date +%s)

command -v dkms >/dev/null || {
  log "dkms is not installed: apt-get install --no-install-recommends dkms (make deps installs it)"
  exit 1
}
[ "$(id -u)" = 0 ] || { log "dkms add needs root: run as root"; exit 1; }

kdir="${KDIR:-}"
[ -n "$kdir" ] || kdir=$("$MOCKGPU_TOP/scripts/kernel.sh" debug)
[ -f "$kdir/include/config/kernel.release" ] || {
  log "KDIR=$kdir is not a built kernel tree (no include/config/kernel.release)"; exit 1; }
kver=$(cat "$kdir/include/config/kernel.release")
arch=$(uname -m)
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$MOCKGPU_TOP/dkms.conf")
[ -n "$ver" ] || { log "no PACKAGE_VERSION in $MOCKGPU_TOP/dkms.conf"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mockgpu-dkms.XXXXXX")
opts=(--dkmstree "$tmp/dkms" --sourcetree "$tmp/src" --installtree "$tmp/install")
logdir="$MOCKGPU_TOP/build/dkms"
mkdir -p "$tmp/dkms" "$tmp/src" "$tmp/install" "$logdir"
cleanup() {
  dkms remove "${opts[@]}" -m mockgpu -v "$ver" --all >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# The source as a release would have it: the checkout's files, no build output.
src="$tmp/src/mockgpu-$ver"
mkdir -p "$src"
if git -C "$MOCKGPU_TOP" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$MOCKGPU_TOP" && git ls-files -co --exclude-standard -z |
     while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
     tar --null -T - -cf - | tar -xf - -C "$src")
else
  (cd "$MOCKGPU_TOP" && tar --exclude=./build --exclude=./userspace-tools/target -cf - . |
     tar -xf - -C "$src")
fi
log "mockgpu $ver for kernel $kver ($kdir); dkms trees in $tmp"

log "dkms add $src"
dkms add "${opts[@]}" "$src" >"$logdir/add.log" 2>&1 || {
  cat "$logdir/add.log" >&2; log "FAIL: dkms add"; exit 1; }

# A kernel without Rust support is skipped, not built (exit 77).
norust="$tmp/kernel-without-rust"
mkdir -p "$norust"
grep -v '^CONFIG_RUST=' "$kdir/.config" >"$norust/.config"
touch "$norust/Makefile"
set +e
dkms build "${opts[@]}" -m mockgpu -v "$ver" -k "$kver-norust" \
  --kernelsourcedir "$norust" >"$logdir/norust.log" 2>&1
rc=$?
set -e
if [ $rc != 77 ] || ! grep -q BUILD_EXCLUSIVE "$logdir/norust.log"; then
  cat "$logdir/norust.log" >&2
  log "FAIL: dkms build against a kernel without CONFIG_RUST exited $rc, not 77 (BUILD_EXCLUSIVE_CONFIG)"
  exit 1
fi
log "a kernel without CONFIG_RUST is skipped (BUILD_EXCLUSIVE_CONFIG)"

if ! timed "dkms build -m mockgpu -v $ver -k $kver" "$logdir/build.log" \
    dkms build "${opts[@]}" -m mockgpu -v "$ver" -k "$kver" --kernelsourcedir "$kdir"; then
  # dkms keeps the build's own output in make.log.
  find "$tmp/dkms" -name make.log -exec tail -n 40 {} \; >&2
  log "FAIL: dkms build (logs: $logdir/build.log)"
  exit 1
fi
cp "$tmp/dkms/mockgpu/$ver/$kver/$arch/log/make.log" "$logdir/make.log" 2>/dev/null || true

ko="$tmp/dkms/mockgpu/$ver/$kver/$arch/module/mockgpu.ko"
[ -f "$ko" ] || { log "FAIL: dkms build left no $ko"; exit 1; }
vermagic=$(modinfo -F vermagic "$ko")
name=$(modinfo -F name "$ko")
case "$vermagic" in
  "$kver "*) ;;
  *) log "FAIL: $ko has vermagic '$vermagic', not for $kver"; exit 1 ;;
esac
[ "$name" = mockgpu ] || { log "FAIL: $ko is module '$name', not mockgpu"; exit 1; }
status=$(dkms status "${opts[@]}" -m mockgpu -v "$ver" -k "$kver" 2>&1)
case "$status" in
  *built*) ;;
  *) log "FAIL: dkms status does not say built: $status"; exit 1 ;;
esac
log "built $(basename "$ko") ($(stat -c %s "$ko") bytes, vermagic $vermagic); dkms status: $status"

log "dkms remove -m mockgpu -v $ver --all"
dkms remove "${opts[@]}" -m mockgpu -v "$ver" --all >"$logdir/remove.log" 2>&1 || {
  cat "$logdir/remove.log" >&2; log "FAIL: dkms remove"; exit 1; }
left=$(dkms status "${opts[@]}" -m mockgpu 2>&1)
[ -z "$left" ] || { log "FAIL: dkms status after remove: $left"; exit 1; }
log "ok: dkms add/build/remove of mockgpu $ver in $(( $(date +%s) - start )) s"
