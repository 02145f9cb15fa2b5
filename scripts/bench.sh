#!/usr/bin/env bash
# make bench: the overhead of mockgpu against direct access and the
# user-space alternatives (CUSE, LD_PRELOAD), on the non-debug test kernel:
# the simulated GPU's rows, and vgem's (DRM GET_CAP, CREATE+DESTROY_DUMB) on
# its card node. Prints the table; the JSON goes to build/bench.json.
#
# make bench ICOUNT=1: the same table with QEMU counting instructions (the
# guest's clock advances 1 ns per guest instruction), so every number is an
# instruction count, repeatable and free of the host's timing noise; JSON in
# build/bench-icount.json. No scaling phase (the vCPUs no longer run in parallel).
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$MOCKGPU_TOP"
kdir=$(guest_prep bench)
run=tests/bench/run.sh name=bench vm_args=()
if [ "${ICOUNT:-0}" = 1 ]; then
  name=bench-icount vm_args=(--icount)
  run="$MOCKGPU_TOP/build/bench-icount-run.sh"
  { echo "BENCH_CLOCK='instruction counting: 1 ns = 1 guest instruction'"; cat tests/bench/run.sh; } > "$run"
fi
out="$MOCKGPU_TOP/build/vm/$name"
if ! scripts/vm.sh --kdir "$kdir" --run "$run" --out "$out" --timeout 2400 "${vm_args[@]}" \
    > "$MOCKGPU_TOP/build/$name-vm.log" 2>&1; then
  tail -n 40 "$MOCKGPU_TOP/build/$name-vm.log"; exit 1
fi
sed -n '/^BENCH-JSON-BEGIN/,/^BENCH-JSON-END/p' "$out/tests.txt" | sed '1d;$d' > "build/$name.json"
sed -n '/^# machine/,$p' "$out/tests.txt" | sed '/^BENCH-JSON-BEGIN/,/^BENCH-JSON-END/d; /^# round/d; /^MOCKGPU-RC/d'
log() { printf '[bench] %s\n' "$*" >&2; }
log "JSON: build/$name.json"
