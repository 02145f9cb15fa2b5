#!/bin/sh
# mockgpuctl attach, cdi and metrics: the proxy bound over the real node
# inside a running container's mount namespace (the host's node left alone),
# a CDI spec that maps each proxy node to its real path, and the usage as
# Prometheus metrics.
. /mockgpu/tests/ktap.sh
plan 9
insmod $M/realgpu.ko vram_mb=64 || { echo "Bail out! insmod realgpu failed"; exit 1; }
insmod $M/mockgpu.ko targets=/dev/realgpu || { echo "Bail out! insmod mockgpu failed"; exit 1; }
major=$(awk '$2 == "mockgpu" {print $1}' /proc/devices)
real_rdev=$(stat -c '%t:%T' /dev/realgpu)
proxy_rdev=$(stat -c '%t:%T' /dev/mockgpu/realgpu)

# A "container": a process in its own mount namespace (private propagation).
unshare -m --propagation private sh -c 'echo ready > /tmp/ctr.ready; exec sleep 600' &
ctr=$!
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -e /tmp/ctr.ready ] && break; sleep 0.2; done
inside() { nsenter -t "$ctr" -m -- sh -c "$1"; }

check "before attach, the container sees the real node" \
  inside "[ \$(stat -c %t:%T /dev/realgpu) = $real_rdev ]"
check "attach binds the proxy into the container" \
  sh -c "out=\$(mockgpuctl attach --pid $ctr --target realgpu) && echo \"\$out\" | grep -q 'pid $ctr: /dev/realgpu is now the mockgpu proxy'"
check "inside, /dev/realgpu is now the proxy (mockgpu's major $major)" \
  inside "[ \$(stat -c %t:%T /dev/realgpu) = $proxy_rdev ] && [ \$((0x\$(stat -c %t /dev/realgpu))) = $major ]"
check "the host's /dev/realgpu is untouched" \
  sh -c "[ \$(stat -c %t:%T /dev/realgpu) = $real_rdev ]"
check "an open inside is charged to mockgpu (files used 1 while open)" \
  inside "exec 3<>/dev/realgpu; out=\$(mockgpuctl usage --json) && echo \"\$out\" | grep -q '\"files\": 1'"
# The tenant's label is the pid namespace's unique id (NS_GET_ID), not its inode.
pidns=$(mockgpuctl ids --pid "$ctr" | awk '$1 == "pidns" {print $2}')
check "metrics: the open file is a Prometheus sample of its tenant (pidns $pidns)" \
  inside "{ [ -n '$pidns' ] && [ '$pidns' != \$(stat -Lc %i /proc/$ctr/ns/pid) ]; } || exit 1
          exec 3<>/dev/realgpu; mockgpuctl metrics > /tmp/metrics.txt &&
          grep -qx '# TYPE mockgpu_files_open gauge' /tmp/metrics.txt &&
          grep -qx 'mockgpu_files_open{target=\"realgpu\",tenant_kind=\"pidns\",tenant=\"$pidns\"} 1' /tmp/metrics.txt;
          r=\$?; rm -f /tmp/metrics.txt; exit \$r"
check_fails "attach to a process that does not exist fails" \
  mockgpuctl attach --pid 999999 --target realgpu
check "cdi maps /dev/mockgpu/realgpu to /dev/realgpu" \
  sh -c 'mockgpuctl cdi --kind example.com/gpu > /tmp/cdi.json &&
         grep -q "\"kind\": \"example.com/gpu\"" /tmp/cdi.json &&
         grep -q "\"hostPath\": \"/dev/mockgpu/realgpu\"" /tmp/cdi.json &&
         grep -q "\"path\": \"/dev/realgpu\"" /tmp/cdi.json'
kill "$ctr"; wait "$ctr" 2>/dev/null
check "once the container is gone, nothing is charged" \
  sh -c 'out=$(mockgpuctl usage --json) && echo "$out" | grep -q "^\[" && ! echo "$out" | grep -q "\"files\": [1-9]"'
done_testing
