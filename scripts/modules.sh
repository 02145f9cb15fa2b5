#!/usr/bin/env bash
# Builds mockgpu.ko and realgpu.ko against KDIR (default: the cached test
# kernel, built if needed), with objects under build/, and copies the modules
# to build/modules/.
#
#   KDIR=/lib/modules/$(uname -r)/build scripts/modules.sh
#
# KBUILD_TOOLCHAIN overrides the toolchain variables given to kbuild (default:
# clang-19 and Debian's rustc, as the test kernel is built).
set -euo pipefail
. "$(dirname "$0")/env.sh"
LOG_TAG=modules
kdir="${KDIR:-}"
[ -n "$kdir" ] || kdir=$("$MOCKGPU_TOP/scripts/kernel.sh" debug)
[ -f "$kdir/Makefile" ] || { log "KDIR=$kdir is not a kernel build tree"; exit 1; }
grep -q '^CONFIG_RUST=y' "$kdir/.config" 2>/dev/null || {
  log "KDIR=$kdir has no CONFIG_RUST=y: mockgpu is a Rust module"; exit 1; }
if [ -n "${KBUILD_TOOLCHAIN:-}" ]; then
  read -r -a tc <<< "$KBUILD_TOOLCHAIN"
else
  tc=("${KMAKE_VARS[@]}")
fi
mo="$MOCKGPU_TOP/build/kmod/$(echo "$kdir" | sha256sum | cut -c1-12)"
# Modules per kernel: build/modules/<kernel build dir name>/.
dest="$MOCKGPU_TOP/build/modules/$(basename "$kdir")"
mkdir -p "$mo" "$dest"
start=$(date +%s)
make -C "$kdir" M="$MOCKGPU_TOP" MO="$mo" "${tc[@]}" -j"$JOBS" modules >&2
rm -f "$dest"/*.ko
find "$mo" -name '*.ko' -exec cp {} "$dest/" \;
log "built $(cd "$dest" && echo *.ko) against $kdir in $(( $(date +%s) - start )) s (in $dest)"
