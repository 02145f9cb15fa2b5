#!/bin/sh
# mockgpu.ko loads, registers its nodes, proxies char devices given at load,
# refuses bad targets with a clear errno, gives a proxy node its real node's
# owner, group and mode, revokes a removed target also through a bind mount a
# container already had, cannot be unloaded while a proxy file is open, and
# leaves nothing behind when unloaded.
. /mockgpu/tests/ktap.sh
plan 22

nothing_left() {
  ! grep -q '^mockgpu ' /proc/modules &&
  [ ! -e /dev/mockgpu-control ] && [ ! -e /dev/mockgpu ] &&
  ! ls /sys/class/misc/ | grep -q mockgpu && [ ! -e /sys/class/mockgpu ] &&
  [ ! -e /sys/kernel/debug/mockgpu ] &&
  ! grep -q ' mockgpu$' /proc/devices
}
is_chr_mode() { # path mode
  [ -c "$1" ] && [ "$(stat -c %a "$1")" = "$2" ]
}

check "insmod mockgpu" insmod $M/mockgpu.ko
check "control node /dev/mockgpu-control, mode 600" is_chr_mode /dev/mockgpu-control 600
check "module listed in /proc/modules" grep -q '^mockgpu ' /proc/modules
check "rmmod mockgpu" rmmod mockgpu
check "unload leaves nothing behind" nothing_left

check "insmod with targets=/dev/null,/dev/zero" insmod $M/mockgpu.ko targets=/dev/null,/dev/zero
check "proxy nodes listed in /sys/class/mockgpu" sh -c '[ -e /sys/class/mockgpu/null ] && [ -e /sys/class/mockgpu/zero ]'
check "proxy nodes carry the real nodes' mode" sh -c "is_chr_mode() { [ -c \$1 ] && [ \$(stat -c %a \$1) = \$2 ]; }; is_chr_mode /dev/mockgpu/null 666 && is_chr_mode /dev/mockgpu/zero 666"
check "debugfs status lists the targets" sh -c 'grep -q "^null: /dev/mockgpu/null -> /dev/null, generic backend, tenants by pidns, ioctls: all" /sys/kernel/debug/mockgpu/status && grep -q "^zero: " /sys/kernel/debug/mockgpu/status'
check "read through the proxy of /dev/zero gives zeros" sh -c 'dd if=/dev/mockgpu/zero bs=4096 count=4 2>/dev/null | cmp - /dev/zero -n 16384'
check "write through the proxy of /dev/null" sh -c 'echo hello > /dev/mockgpu/null'
check_fails "proxying a missing node is refused" mockgpuctl target add /dev/does-not-exist
check_fails "proxying a directory is refused" mockgpuctl target add /tmp
check_fails "proxying a proxy node is refused" mockgpuctl target add /dev/mockgpu/null
check "a refusal is logged in one kernel line" sh -c 'dmesg | grep -q "mockgpu: target /dev/mockgpu/null: is a mockgpu node"'
# A target added at run time, whose real node has its own owner, group and mode.
mknod /tmp/lc-zero c 1 5 && chown 1000:4321 /tmp/lc-zero && chmod 640 /tmp/lc-zero
check "a proxy node has its real node's owner, group and mode" sh -c \
  'mockgpuctl target add /tmp/lc-zero >/dev/null || exit 1
   p=$(stat -c "%u %g %a" /dev/mockgpu/lc-zero) r=$(stat -c "%u %g %a" /tmp/lc-zero)
   echo "proxy $p, real node $r"; [ "$p" = "$r" ]'
# Removal: a file open through the node, and a bind mount of the node made
# before (a container's view), share the node's inode.
exec 4</dev/mockgpu/lc-zero
mkdir -p /tmp/lc && : > /tmp/lc/zero && mount --bind /dev/mockgpu/lc-zero /tmp/lc/zero
check "remove a target while a file of it is open" mockgpuctl target remove lc-zero
check "the file open at removal keeps working" sh -c 'dd bs=16 count=1 <&4 2>/dev/null | cmp - /dev/zero -n 16'
check "an open through the bind mount made before the removal: ENODEV" sh -c \
  'out=$(dd if=/tmp/lc/zero of=/dev/null bs=1 count=1 2>&1); echo "$out"
   echo "$out" | grep -q "No such device\$"'
exec 4<&-
umount /tmp/lc/zero; rm -f /tmp/lc-zero
exec 3</dev/mockgpu/zero
check_fails "rmmod refused while a proxy file is open" rmmod mockgpu
exec 3<&-
check "rmmod once the file is closed" rmmod mockgpu
check "unload with targets leaves nothing behind" nothing_left
done_testing
