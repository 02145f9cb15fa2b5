#!/usr/bin/env bash
# make stress: the reliability suite at full length on the debug kernel:
# 1,000,000 fuzzer calls (SEED=..., default: random, printed) and a stress
# run of STRESS_SECONDS (default 120) with 4 tenants of 4 workers. Fails on
# the first kernel splat (KASAN, lockdep, atomic sleep, hung task), a kmemleak
# report at the end, or a broken invariant.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$MOCKGPU_TOP"
seed=${SEED:-$(( $(date +%s) % 1000000 + 1 ))}
kdir=$(guest_prep debug)
run="$MOCKGPU_TOP/build/stress-run.sh"
cat > "$run" <<RUN
#!/bin/sh
export FUZZ_SEED=$seed FUZZ_CALLS=${FUZZ_CALLS:-1000000}
export STRESS_SEED=$seed STRESS_SECONDS=${STRESS_SECONDS:-120} STRESS_TENANTS=4 STRESS_WORKERS=4
rc=0
sh /mockgpu/tests/fuzz.sh || rc=1
for m in mockgpu realgpu; do rmmod \$m; done
sh /mockgpu/tests/stress.sh || rc=1
for m in mockgpu realgpu; do rmmod \$m; done
exit \$rc
RUN
echo "[stress] seed $seed (reproduce: make stress SEED=$seed)"
scripts/vm.sh --kdir "$kdir" --run "$run" --out "$MOCKGPU_TOP/build/vm/stress" --timeout 3600
