#!/usr/bin/env bash
# Builds the test kernel once and caches it outside the repository.
#
#   scripts/kernel.sh [debug|bench]   builds if needed, prints the build directory
#
# The cache key is the kernel source package version, the config fragments and the
# toolchain versions, so a warm run does no kernel work at all.
set -euo pipefail
. "$(dirname "$0")/env.sh"
LOG_TAG=kernel
profile="${1:-debug}"
case "$profile" in
  debug) frags=(base.config debug.config) ;;
  bench) frags=(base.config) ;;
  *) log "unknown profile '$profile' (debug|bench)"; exit 2 ;;
esac

tarball=$(ls /usr/src/linux-source-7.3.tar.* 2>/dev/null | head -n1)
[ -n "$tarball" ] || { log "no kernel source; run scripts/deps.sh"; exit 1; }
srcver=$(dpkg-query -W -f='${Version}' linux-source-7.3 2>/dev/null || stat -c %s-%Y "$tarball")
key=$( {
  echo "$srcver"
  for f in "${frags[@]}"; do cat "$MOCKGPU_TOP/scripts/kconfig/$f"; done
  /usr/bin/rustc --version; "$BINDGEN_BIN" --version; clang-19 --version | head -n1
} | sha256sum | cut -c1-16)
src="$MOCKGPU_CACHE/src-$srcver"
out="$MOCKGPU_CACHE/kernel-$profile-$key"

if [ -f "$out/.mockgpu-done" ]; then
  log "cached $profile kernel: $out"
  echo "$out"
  exit 0
fi
mkdir -p "$MOCKGPU_CACHE"
# Only one kernel build at a time on this machine.
exec 9>"$MOCKGPU_CACHE/.lock"
flock 9

if [ ! -f "$src/.mockgpu-unpacked" ]; then
  rm -rf "$src"; mkdir -p "$src"
  timed "unpacking $(basename "$tarball")" "$MOCKGPU_CACHE/unpack.log" \
    tar -xf "$tarball" -C "$src" --strip-components=1
  touch "$src/.mockgpu-unpacked"
fi
kver=$(make -s -C "$src" kernelversion)
log "kernel $kver ($srcver), profile $profile, key $key"

rm -rf "$out"; mkdir -p "$out"
km=(make -C "$src" O="$out" "${KMAKE_VARS[@]}")
"${km[@]}" -s tinyconfig >/dev/null
"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" \
  "${frags[@]/#/$MOCKGPU_TOP/scripts/kconfig/}" >"$out/merge.log"
"${km[@]}" -s olddefconfig >/dev/null
# merge_config drops options whose dependencies are unmet without failing: check each.
bad=0
for f in "${frags[@]}"; do
  while IFS= read -r line; do
    case "$line" in
      CONFIG_*=*) grep -qx "$line" "$out/.config" || { log "option not in .config: $line"; bad=1; } ;;
      "# CONFIG_"*" is not set") opt=${line#\# }; opt=${opt%% *}
        grep -q "^$opt=y" "$out/.config" && { log "option should be unset: $opt"; bad=1; } ;;
    esac
  done < "$MOCKGPU_TOP/scripts/kconfig/$f"
done
[ $bad = 0 ] || { log "config fragment did not resolve"; exit 1; }

timed "building $profile kernel $kver (-j$JOBS, about 20 min)" "$out/build.log" \
  "${km[@]}" -j"$JOBS" bzImage modules
timed "uapi headers" "$out/headers.log" "${km[@]}" headers
touch "$out/.mockgpu-done"
echo "$out"
