#!/usr/bin/env bash
# make bench: the overhead of mockgpu against direct access and the
# user-space alternatives (CUSE, LD_PRELOAD), on the non-debug test kernel.
# Prints the table; the JSON goes to build/bench.json.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$MOCKGPU_TOP"
kdir=$(guest_prep bench)
out="$MOCKGPU_TOP/build/vm/bench"
if ! scripts/vm.sh --kdir "$kdir" --run tests/bench/run.sh --out "$out" --timeout 1800 > "$MOCKGPU_TOP/build/bench-vm.log" 2>&1; then
  tail -n 40 "$MOCKGPU_TOP/build/bench-vm.log"; exit 1
fi
sed -n '/^BENCH-JSON-BEGIN/,/^BENCH-JSON-END/p' "$out/tests.txt" | sed '1d;$d' > build/bench.json
sed -n '/^# machine/,$p' "$out/tests.txt" | sed '/^BENCH-JSON-BEGIN/,/^BENCH-JSON-END/d; /^# round/d; /^MOCKGPU-RC/d'
log() { printf '[bench] %s\n' "$*" >&2; }
log "JSON: build/bench.json"
