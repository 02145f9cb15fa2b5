#!/usr/bin/env bash
# Builds what runs in the guest: the C test programs (static, against the
# kernel's and the project's uapi headers; drm_discover dynamic, against
# libdrm) and the Rust tools (static-pie).
set -euo pipefail
. "$(dirname "$0")/env.sh"
LOG_TAG=guest-progs
kdir="${KDIR:-}"
[ -n "$kdir" ] || kdir=$("$MOCKGPU_TOP/scripts/kernel.sh" debug)
bin="$MOCKGPU_TOP/build/guest/bin"
mkdir -p "$bin"
for src in "$MOCKGPU_TOP"/tests/selftests/*.c; do
  exe="$bin/$(basename "$src" .c)"
  if [ ! -e "$exe" ] || [ -n "$(find "$src" "$MOCKGPU_TOP"/tests/selftests/*.h "$MOCKGPU_TOP"/uapi -newer "$exe" 2>/dev/null)" ]; then
    gcc -static -O2 -g -Wall -Wextra -Wno-unused-parameter -pthread \
      -I"$kdir/usr/include" -I"$MOCKGPU_TOP/uapi" -o "$exe" "$src"
  fi
done
# The benchmark: static bench and CUSE forwarder; a dynamic bench and the
# LD_PRELOAD interposer for the user-space alternative.
b="$MOCKGPU_TOP/tests/bench"
if [ ! -e "$bin/bench" ] || [ -n "$(find "$b" "$MOCKGPU_TOP/uapi" -newer "$bin/bench" 2>/dev/null)" ]; then
  cflags=(-O2 -Wall -Wextra -pthread -I"$kdir/usr/include" -I"$MOCKGPU_TOP/uapi")
  gcc -static "${cflags[@]}" -o "$bin/bench" "$b/bench.c"
  gcc "${cflags[@]}" -o "$bin/bench_dyn" "$b/bench.c"
  gcc -shared -fPIC "${cflags[@]}" -o "$bin/libgpu_preload.so" "$b/gpu_preload.c" -ldl
  gcc -static "${cflags[@]}" -I/usr/include/fuse3 -o "$bin/cuse_realgpu" "$b/cuse_realgpu.c" \
    -lfuse3 -ldl 2>&1 | { grep -v -e 'dlopen' -e 'fuse_get_module' || true; }
fi
# GPU discovery (tests/guest/discovery.sh): linked dynamically against the
# distribution's libdrm (scripts/deps.sh installs libdrm-dev), which
# scripts/vm.sh copies into the guest with the program's other libraries.
d="$MOCKGPU_TOP/tests/discover/drm_discover.c"
if [ ! -e "$bin/drm_discover" ] || [ "$d" -nt "$bin/drm_discover" ]; then
  # shellcheck disable=SC2046 # pkg-config prints words to split
  gcc -O2 -g -Wall -Wextra -o "$bin/drm_discover" "$d" $(pkg-config --cflags --libs libdrm)
fi
(cd "$MOCKGPU_TOP/userspace-tools" &&
  RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --release \
    --target x86_64-unknown-linux-gnu --workspace --exclude mockgpu-device-plugin --bins)
find "$MOCKGPU_TOP/userspace-tools/target/x86_64-unknown-linux-gnu/release" -maxdepth 1 \
  -type f -executable -exec cp {} "$bin/" \;
log "guest programs: $(cd "$bin" && echo *)"
