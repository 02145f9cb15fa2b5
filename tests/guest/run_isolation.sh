#!/bin/sh
# mockgpuctl run: the tenant sees the proxy at the real node's path, cannot
# reach the real device by any path, is held to its limits, and leaves nothing
# charged behind.
. /mockgpu/tests/ktap.sh
plan 9
insmod $M/realgpu.ko vram_mb=64 || { echo "Bail out! insmod realgpu failed"; exit 1; }
insmod $M/mockgpu.ko targets=/dev/realgpu || { echo "Bail out! insmod mockgpu failed"; exit 1; }
major=$(awk '$2 == "mockgpu" {print $1}' /proc/devices)
real=$(stat -c '0x%t 0x%T' /dev/realgpu)
in_tenant() { mockgpuctl run --memory 4M --files 2 -- sh -c "$1"; }

check "real_path of the target in sysfs" sh -c '[ "$(cat /sys/class/mockgpu/realgpu/real_path)" = /dev/realgpu ]'
check "inside, /dev/realgpu is the proxy (mockgpu's major $major)" \
  in_tenant "[ \$((0x\$(stat -c %t /dev/realgpu))) = $major ]"
check "inside, mknod of the real device is refused" \
  in_tenant "! mknod /tmp/real c $real"
check "inside, the proxy cannot be unmounted" in_tenant "! umount /dev/realgpu"
check "inside, the command is pid 1 of its own /proc" \
  in_tenant '[ $$ = 1 ] && [ "$(cat /proc/1/comm)" = sh ]'
check "inside, the memory limit holds (4 MiB of 1 MiB buffers)" \
  in_tenant 'out=$(gpuload -c 1 -s 0.1); echo "$out"; echo "$out" | grep -q "allocated 4 MiB in 4 buffers of 1 MiB; the next one: Disk quota exceeded"'
check "inside, the file limit holds (EMFILE on the third open)" \
  in_tenant 'exec 3</dev/realgpu 4</dev/realgpu; ! (exec 5</dev/realgpu) 2>/dev/null'
check "the exit status of the command is returned" sh -c 'mockgpuctl run -- sh -c "exit 7"; [ $? = 7 ]'
check "after run, no tenant keeps a charge or a limit" \
  sh -c '! mockgpuctl usage | awk "NR > 1 && \$2 == \"pidns\" && \$4 !~ /^0\\// {bad=1} END {exit !bad}"'
done_testing
