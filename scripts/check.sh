#!/usr/bin/env bash
# `make check`: host tests (cargo) and guest tests (KTAP in a QEMU guest on the
# debug kernel). Ends with one line "N passed, N failed"; exits non-zero on
# any failure, including a kernel splat or a hung guest.
set -uo pipefail
. "$(dirname "$0")/env.sh"
LOG_TAG=check
cd "$MOCKGPU_TOP"
start=$(date +%s)
passed=0 failed=0

"$MOCKGPU_TOP/scripts/deps.sh" || exit 1
kdir=$("$MOCKGPU_TOP/scripts/kernel.sh" debug) || exit 1
KDIR=$kdir scripts/modules.sh || exit 1
KDIR=$kdir scripts/guest-progs.sh || exit 1

# Host: cargo test over the workspace (the pure logic shared with the module).
log "host tests (cargo test)"
host_log="$MOCKGPU_TOP/build/host-tests.log"
mkdir -p "$MOCKGPU_TOP/build"
if ! (cd userspace-tools && cargo fmt --all -- --check && cargo clippy --quiet --all-targets -- -D warnings) >"$host_log.lint" 2>&1; then
  cat "$host_log.lint" >&2
  log "FAIL: userspace-tools is not fmt/clippy clean"
  failed=$((failed + 1))
fi
# The modules' Rust, formatted as the kernel's .rustfmt.toml asks (edition 2021, defaults).
if ! rustfmt --check --edition 2021 mockgpu/mockgpu_main.rs tests/realgpu/realgpu_main.rs >"$host_log.kfmt" 2>&1; then
  cat "$host_log.kfmt" >&2
  log "FAIL: the kernel modules are not rustfmt clean (rustfmt --edition 2021 mockgpu/mockgpu_main.rs ...)"
  failed=$((failed + 1))
fi
(cd userspace-tools && cargo test --quiet 2>&1) | tee "$host_log"
hp=$(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1/p' "$host_log" | paste -sd+ | bc)
hf=$(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\2/p' "$host_log" | paste -sd+ | bc)
hp=${hp:-0} hf=${hf:-0}
if ! grep -q '^test result:' "$host_log" || grep -q '^error' "$host_log"; then hf=$((hf + 1)); fi
passed=$((passed + hp)); failed=$((failed + hf))

# DKMS: add/build/remove through Debian's dkms against the cached test kernel.
if KDIR=$kdir scripts/dkms-check.sh; then
  passed=$((passed + 1))
else
  log "FAIL: DKMS build (scripts/dkms-check.sh; logs in build/dkms/)"
  failed=$((failed + 1))
fi

# Guest: every suite in one boot of the debug kernel.
log "guest tests (debug kernel under QEMU)"
out="$MOCKGPU_TOP/build/vm/check"
# Every suite in one boot: about 10 min on an idle 2-core machine (TCG, KASAN).
scripts/vm.sh --kdir "$kdir" --run tests/guest/run-all.sh --out "$out" --timeout 2700
vm_status=$?
gp=$(grep -cE '^    ok [0-9]+ ' "$out/tests.txt" 2>/dev/null)
gs=$(grep -cE '^    ok [0-9]+ .*# SKIP' "$out/tests.txt" 2>/dev/null)
# "not ok ... # TODO": a known failure the README documents; neither passed nor failed.
gt=$(grep -cE '^    not ok [0-9]+ .*# TODO' "$out/tests.txt" 2>/dev/null)
gf=$(grep -cE '^    not ok [0-9]+ ' "$out/tests.txt" 2>/dev/null)
gf=$((${gf:-0} - ${gt:-0}))
gsuite=$(grep -cE '^not ok [0-9]+ ' "$out/tests.txt" 2>/dev/null)
gp=$((${gp:-0} - ${gs:-0}))
gf=$((${gf:-0} + ${gsuite:-0}))
# A splat, a hang or a crash fails the run even if every test passed.
[ $vm_status = 0 ] || gf=$((gf + 1))
passed=$((passed + gp)); failed=$((failed + gf))

[ "${gs:-0}" = 0 ] || log "${gs} guest tests skipped (not counted as passed)"
[ "${gt:-0}" = 0 ] || { log "${gt} known failures (TODO, documented in the README; not counted as passed):"; grep -E '^    not ok [0-9]+ .*# TODO' "$out/tests.txt" >&2; }
log "done in $(( $(date +%s) - start )) s"
todo=""
[ "${gt:-0}" = 0 ] || todo=", $gt known failing (TODO)"
echo "$passed passed, $failed failed$todo"
[ $failed = 0 ]
