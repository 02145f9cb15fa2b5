# KTAP for guest shell suites (busybox sh); sourced.
#   plan N; check NAME CMD...; check_fails NAME CMD...; done_testing
_ktap_n=0
_ktap_failed=0
plan() { echo "TAP version 13"; echo "1..$1"; _ktap_plan=$1; }
# check NAME CMD...: ok if CMD succeeds.
check() {
  name=$1; shift
  _ktap_n=$((_ktap_n + 1))
  if out=$("$@" 2>&1); then
    echo "ok $_ktap_n $name"
  else
    echo "not ok $_ktap_n $name"
    echo "$out" | sed 's/^/# /' | head -n 20
    _ktap_failed=$((_ktap_failed + 1))
  fi
}
# check_fails NAME CMD...: ok if CMD fails.
check_fails() {
  name=$1; shift
  _ktap_n=$((_ktap_n + 1))
  if out=$("$@" 2>&1); then
    echo "not ok $_ktap_n $name"
    echo "# unexpectedly succeeded: $*"
    echo "$out" | sed 's/^/# /' | head -n 5
    _ktap_failed=$((_ktap_failed + 1))
  else
    echo "ok $_ktap_n $name"
  fi
}
done_testing() {
  if [ "$_ktap_n" != "$_ktap_plan" ]; then
    echo "# plan was $_ktap_plan, ran $_ktap_n"
    _ktap_failed=$((_ktap_failed + 1))
  fi
  [ "$_ktap_failed" = 0 ]
}
M=/mockgpu/modules
