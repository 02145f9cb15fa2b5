# Shared settings for mockgpu's scripts; sourced, not run.
# shellcheck shell=bash
MOCKGPU_TOP="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOCKGPU_CACHE="${MOCKGPU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mockgpu}"
# Debian's rustc has its library source on disk; rustup's has not (see README).
BINDGEN_BIN="${CARGO_HOME:-$HOME/.cargo}/bin/bindgen"
KMAKE_VARS=(LLVM=-19 RUSTC=/usr/bin/rustc HOSTRUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
            "BINDGEN=$BINDGEN_BIN")
export LIBCLANG_PATH=/usr/lib/llvm-19/lib
JOBS="${JOBS:-$(( $(nproc) + 1 ))}"

log() { printf '[%s] %s\n' "${LOG_TAG:-mockgpu}" "$*" >&2; }

# Runs "$@" with its output in a log file, printing a heartbeat and the elapsed time.
timed() {
  local what=$1 logf=$2; shift 2
  local start; start=$(date +%s)
  log "$what (log: $logf)"
  "$@" >"$logf" 2>&1 &
  local pid=$!
  while kill -0 $pid 2>/dev/null; do
    sleep 30
    kill -0 $pid 2>/dev/null && log "  ... $what: $(( $(date +%s) - start )) s, $(tail -n1 "$logf" | cut -c1-100)"
  done
  if ! wait $pid; then
    tail -n 40 "$logf" >&2
    log "$what FAILED after $(( $(date +%s) - start )) s"
    return 1
  fi
  log "$what done in $(( $(date +%s) - start )) s"
}

# Everything a guest run needs on the kernel of profile $1 (debug|bench):
# the toolchain, the cached kernel, the modules and the guest programs.
# Prints the kernel build directory.
guest_prep() {
  "$MOCKGPU_TOP/scripts/deps.sh" >&2
  local kdir
  kdir=$("$MOCKGPU_TOP/scripts/kernel.sh" "$1")
  KDIR=$kdir "$MOCKGPU_TOP/scripts/modules.sh" >&2
  KDIR=$kdir "$MOCKGPU_TOP/scripts/guest-progs.sh" >&2
  echo "$kdir"
}
