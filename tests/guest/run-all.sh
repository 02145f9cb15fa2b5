#!/bin/sh
# Runs every guest suite of `make check`, in order. Each suite prints KTAP;
# its lines are indented as subtests of one top-level result per suite, which
# is "not ok" if the suite exits non-zero (a failure, a crash, a wrong plan).
cd /mockgpu/tests
suites="module_lifecycle.sh"
for s in /mockgpu/tests/*.suite; do [ -e "$s" ] && suites="$suites $(cat "$s")"; done
n=0
set -- $suites
echo "KTAP version 1"
echo "1..$#"
failed=0
for suite in "$@"; do
  n=$((n + 1))
  echo "# Subtest: $suite"
  # A suite is "script.sh[:arg]" (in /mockgpu/tests) or a program on PATH.
  name=${suite%%:*}
  arg=${suite#"$name"}
  arg=${arg#:}
  case "$name" in
    *.sh) cmd="sh /mockgpu/tests/$name $arg" ;;
    *) cmd="/mockgpu/bin/$name $arg" ;;
  esac
  ( $cmd; echo $? > /tmp/suite.rc ) 2>&1 | sed 's/^/    /'
  rc=$(cat /tmp/suite.rc)
  if [ "$rc" = 0 ]; then
    echo "ok $n $suite"
  else
    echo "not ok $n $suite # exit status $rc"
    failed=$((failed + 1))
  fi
  # A suite must not leave mockgpu or the backends loaded for the next one.
  for m in mockgpu realgpu vgem drm_shmem_helper; do
    grep -q "^$m " /proc/modules && rmmod "$m" 2>/dev/null
  done
done
[ "$failed" = 0 ]
