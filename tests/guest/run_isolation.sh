#!/bin/sh
# mockgpuctl run is a container: the command sees the proxy at the real node's
# path and, under /dev, only the harmless nodes besides; it has the capability
# set of a default OCI container, cannot open a node it makes of the real
# device, cannot read other tenants' usage, is held to its limits (also from a
# nested user and pid namespace), and leaves nothing charged behind. For a
# target that counts tenants by cgroup or by user namespace, the container
# gets a cgroup or a user namespace of its own and the limit is set there.
#
# Every check fails if a tool it relies on fails (no negated grep over the
# output of a command that may not have run).
. /mockgpu/tests/ktap.sh
plan 26
insmod $M/realgpu.ko vram_mb=64 || { echo "Bail out! insmod realgpu failed"; exit 1; }
insmod $M/mockgpu.ko targets=/dev/realgpu || { echo "Bail out! insmod mockgpu failed"; exit 1; }
major=$(awk '$2 == "mockgpu" {print $1}' /proc/devices)
# The real device's numbers in decimal (busybox mknod takes no hex).
rmaj=$((0x$(stat -c %t /dev/realgpu)))
rmin=$((0x$(stat -c %T /dev/realgpu)))
[ -n "$major" ] && [ "$rmaj" -gt 0 ] || { echo "Bail out! no device numbers"; exit 1; }
in_tenant() { mockgpuctl run --memory 4M --files 2 -- sh -c "$1"; }
# fails_with MSG CMD...: CMD fails and says MSG.
fails_with() {
  msg=$1; shift
  out=$("$@" 2>&1) && { echo "succeeded: $out"; return 1; }
  echo "$out"
  echo "$out" | grep -q -- "$msg"
}
# The processes whose parent is $1.
children_of() {
  for s in /proc/[0-9]*/stat; do
    read -r p _ _ pp _ 2>/dev/null < "$s" && [ "$pp" = "$1" ] && echo "$p"
  done
}
# wait_for FILE: up to 20 s.
wait_for() {
  for _ in $(seq 100); do [ -e "$1" ] && return 0; sleep 0.2; done
  return 1
}
# What /dev holds in the container (ptys if the kernel has devpts).
if grep -q devpts /proc/filesystems; then
  allowed="fd full null ptmx pts random realgpu shm stderr stdin stdout tty urandom zero "
else
  allowed="fd full null random realgpu shm stderr stdin stdout tty urandom zero "
fi

check "real_path of the target in sysfs" sh -c '[ "$(cat /sys/class/mockgpu/realgpu/real_path)" = /dev/realgpu ]'
check "inside, /dev/realgpu is the proxy (mockgpu's major $major)" \
  in_tenant "[ \$((0x\$(stat -c %t /dev/realgpu))) = $major ]"
check "inside, /dev holds only the proxy and the harmless nodes" \
  in_tenant "l=\$(ls -A /dev | tr '\n' ' '); echo \"/dev: \$l\"; [ \"\$l\" = '$allowed' ]"
check "inside, no node under /dev opens but the proxy and the harmless ones" \
  in_tenant 'n=0 bad=0
    for f in $(find /dev -type c); do
      n=$((n + 1))
      case $f in /dev/realgpu|/dev/null|/dev/zero|/dev/full|/dev/random|/dev/urandom|/dev/tty|/dev/pts/ptmx) continue ;; esac
      if (exec 3<>"$f") 2>/dev/null || (exec 3<"$f") 2>/dev/null; then echo "$f opens"; bad=1; fi
    done
    echo "$n nodes"; [ "$n" -ge 7 ] && [ $bad = 0 ]'
check "inside, no control node: mockgpuctl usage fails" \
  in_tenant '[ ! -e /dev/mockgpu-control ] && [ ! -e /dev/mockgpu ] &&
    out=$(mockgpuctl usage 2>&1); r=$?; echo "$out"; [ $r != 0 ] && echo "$out" | grep -q "cannot open /dev/mockgpu-control"'
check "on the host, a node made with mknod c $rmaj $rmin opens the real device" \
  sh -c "mknod /tmp/rg.host c $rmaj $rmin && (exec 3<>/tmp/rg.host); r=\$?; rm -f /tmp/rg.host; [ \$r = 0 ]"
check "inside, the same node can be made (CAP_MKNOD) but not opened, in /tmp, /dev and /dev/shm" \
  in_tenant "for d in /tmp /dev /dev/shm; do
      mknod \$d/rg.in c $rmaj $rmin || exit 1
      out=\$( (exec 3<>\$d/rg.in) 2>&1 ); r=\$?; rm -f \$d/rg.in
      echo \"\$d: \$out\"; [ \$r != 0 ] && echo \"\$out\" | grep -q 'Permission denied' || exit 1
    done"
check "inside, the capability sets are the OCI default (CapEff a80425fb), none ambient, no_new_privs" \
  in_tenant 'grep -E "^(Cap|NoNewPrivs)" /proc/self/status;
    awk '\''$1 ~ /^Cap(Inh|Prm|Eff|Bnd):$/ { n++; if ($2 != "00000000a80425fb") bad = 1 }
         $1 == "CapAmb:" { n++; if ($2 != "0000000000000000") bad = 1 }
         $1 == "NoNewPrivs:" { n++; if ($2 != 1) bad = 1 }
         END { exit bad || n != 6 }'\'' /proc/self/status'
check "inside, the proxy cannot be unmounted (EPERM)" \
  in_tenant 'out=$(umount /dev/realgpu 2>&1); r=$?; echo "$out"; [ $r != 0 ] && echo "$out" | grep -q "Operation not permitted" && [ -c /dev/realgpu ]'
check "on the host, a /proc/PID/map_files link opens" \
  sh -c 'f=$(ls /proc/$$/map_files | head -n 1); [ -n "$f" ] && cat /proc/$$/map_files/$f > /dev/null'
check "inside, no /proc/PID/map_files link opens (EPERM: no CAP_CHECKPOINT_RESTORE)" \
  in_tenant 'f=$(ls /proc/$$/map_files | head -n 1); [ -n "$f" ] &&
    out=$(cat /proc/$$/map_files/$f 2>&1 > /dev/null); r=$?; echo "$out"; [ $r != 0 ] && echo "$out" | grep -q "Operation not permitted"'
check "inside, debugfs is gone and the cgroupfs is the container's own, read-only" \
  in_tenant '[ -d /sys/class/mockgpu/realgpu ] && [ ! -e /sys/kernel/debug/mockgpu ] &&
    [ "$(cat /proc/self/cgroup)" = "0::/" ] &&
    out=$( (echo $$ > /sys/fs/cgroup/cgroup.procs) 2>&1 ); r=$?; echo "$out"; [ $r != 0 ] && echo "$out" | grep -q "Read-only file system"'
check "inside, the command is pid 1 of its own /proc" \
  in_tenant '[ $$ = 1 ] && [ "$(cat /proc/1/comm)" = sh ]'
check "inside, the memory limit holds (4 MiB of 1 MiB buffers)" \
  in_tenant 'out=$(gpuload -c 1 -s 0.1); echo "$out"; echo "$out" | grep -q "allocated 4 MiB in 4 buffers of 1 MiB; the next one: Disk quota exceeded"'
check "inside, a nested user and pid namespace is held to the same limit" \
  in_tenant 'out=$(unshare -Urpf gpuload -c 1 -s 0.1); echo "$out"; echo "$out" | grep -q "allocated 4 MiB in 4 buffers of 1 MiB; the next one: Disk quota exceeded"'
check "inside, the file limit holds (EMFILE on the third open)" \
  in_tenant 'exec 3</dev/realgpu 4</dev/realgpu; out=$( (exec 5</dev/realgpu) 2>&1 ); r=$?; echo "$out"; [ $r != 0 ] && echo "$out" | grep -q "Too many open files"'
check "the exit status of the command is returned" sh -c 'mockgpuctl run -- sh -c "exit 7"; [ $? = 7 ]'
check "from a user namespace, usage and metrics are refused with EPERM" \
  sh -c 'for c in usage metrics; do
      out=$(unshare -Ur mockgpuctl $c 2>&1); r=$?; echo "$c: $out"
      [ $r != 0 ] && echo "$out" | grep -q "CAP_SYS_ADMIN" && echo "$out" | grep -q EPERM || exit 1
    done'
check "after run, no tenant keeps a charge or a limit" \
  sh -c 'out=$(mockgpuctl usage) || exit 1; echo "$out"
    echo "$out" | head -n 1 | grep -q "^TARGET" &&
    echo "$out" | awk "NF == 0 {done = 1} !done && NR > 1 && (\$4 !~ /^0\\// || \$4 !~ /\\/-\$/ || \$5 !~ /\\/-\$/) {bad=1} END {exit bad}"'

# A target that counts cgroups: the container gets a child cgroup.
mockgpuctl target remove realgpu > /dev/null &&
  mockgpuctl target add /dev/realgpu --tenant cgroup > /dev/null ||
  { echo "Bail out! cannot re-add realgpu by cgroup"; exit 1; }
rm -f /tmp/ctr.up /tmp/ctr.stop
mockgpuctl run --memory 4M -- sh -c 'exec 3<>/dev/realgpu; touch /tmp/ctr.up; while [ ! -e /tmp/ctr.stop ]; do sleep 0.1; done' &
run=$!
wait_for /tmp/ctr.up
cg=/sys/fs/cgroup/mockgpu-run-$run
check "cgroup target: the container runs in its own child cgroup, which carries the limit and the open file" \
  sh -c "[ -n \"\$(cat $cg/cgroup.procs)\" ] && id=\$(stat -c %i $cg) && out=\$(mockgpuctl usage) && echo \"\$out\" &&
    echo \"\$out\" | awk -v id=\$id '\$2 == \"cgroup\" && \$3 == id && \$4 ~ /\\/4.0M\$/ && \$5 ~ /^1\\// {ok=1} END {exit !ok}'"
check "cgroup target: the caller is not held to the container's limit" \
  sh -c 'out=$(gpuload -c 8 -s 0); echo "$out"; n=$(echo "$out" | sed -n "s/.*allocated \([0-9]*\) MiB.*/\1/p"); [ "${n:-0}" -ge 8 ]'
touch /tmp/ctr.stop
wait $run
check "cgroup target: the container's cgroup is removed after it" sh -c "[ ! -e $cg ]"
check "cgroup target: inside, the memory limit holds" \
  in_tenant 'out=$(gpuload -c 1 -s 0.1); echo "$out"; echo "$out" | grep -q "allocated 4 MiB in 4 buffers of 1 MiB; the next one: Disk quota exceeded"'

# A target that counts user namespaces: the container gets its own.
mockgpuctl target remove realgpu > /dev/null &&
  mockgpuctl target add /dev/realgpu --tenant userns > /dev/null ||
  { echo "Bail out! cannot re-add realgpu by userns"; exit 1; }
rm -f /tmp/ctr.up /tmp/ctr.stop
mockgpuctl run --memory 4M -- sh -c 'exec 3<>/dev/realgpu; touch /tmp/ctr.up; while [ ! -e /tmp/ctr.stop ]; do sleep 0.1; done' &
run=$!
wait_for /tmp/ctr.up
leader=$(children_of $run)
init=$(children_of "$leader")
check "userns target: the container's own user namespace carries the limit and the open file" \
  sh -c "[ -n '$init' ] && ids=\$(mockgpuctl ids --pid $init) && host=\$(mockgpuctl ids --pid \$\$) &&
    id=\$(echo \"\$ids\" | awk '\$1 == \"userns\" {print \$2}') &&
    [ \"\$id\" != \"\$(echo \"\$host\" | awk '\$1 == \"userns\" {print \$2}')\" ] &&
    out=\$(mockgpuctl usage) && echo \"\$out\" &&
    echo \"\$out\" | awk -v id=\$id '\$2 == \"userns\" && \$3 == id && \$4 ~ /\\/4.0M\$/ && \$5 ~ /^1\\// {ok=1} END {exit !ok}'"
check "userns target: the caller is not held to the container's limit" \
  sh -c 'out=$(gpuload -c 8 -s 0); echo "$out"; n=$(echo "$out" | sed -n "s/.*allocated \([0-9]*\) MiB.*/\1/p"); [ "${n:-0}" -ge 8 ]'
touch /tmp/ctr.stop
wait $run
check "userns target: inside, mknod of the real device is refused (EPERM) and the memory limit holds" \
  in_tenant "out=\$(mknod /tmp/rg.ns c $rmaj $rmin 2>&1); r=\$?; rm -f /tmp/rg.ns; echo \"\$out\"
    [ \$r != 0 ] && echo \"\$out\" | grep -q 'Operation not permitted' &&
    out=\$(gpuload -c 1 -s 0.1); echo \"\$out\"; echo \"\$out\" | grep -q 'allocated 4 MiB in 4 buffers of 1 MiB; the next one: Disk quota exceeded'"
done_testing
