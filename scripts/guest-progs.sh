#!/usr/bin/env bash
# Builds what runs in the guest: the C test programs (static, against the
# kernel's and the project's uapi headers) and the Rust tools (static-pie).
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
(cd "$MOCKGPU_TOP/userspace-tools" &&
  RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --release \
    --target x86_64-unknown-linux-gnu --bins)
find "$MOCKGPU_TOP/userspace-tools/target/x86_64-unknown-linux-gnu/release" -maxdepth 1 \
  -type f -executable -exec cp {} "$bin/" \;
log "guest programs: $(cd "$bin" && echo *)"
