#!/bin/sh
# A real OCI runtime: crun runs a container whose config.json gives it the
# proxy of the simulated GPU at the real node's path (linux.devices) and whose
# device cgroup (cgroup v2 BPF) allows only the proxy's number. Its limit is
# set from outside with mockgpuctl for the container's pid namespace, between
# `crun create` and `crun start`. Inside: the GPU works through the proxy, the
# real device cannot be reached, and the limit holds, also from a nested
# `unshare -Urpf`. Usage is judged by the device's own vram_used.
. /mockgpu/tests/ktap.sh
plan 18
LIMIT_MB=4
ID=mockgpu-crun
B=/tmp/crun-bundle
R=$B/rootfs
OUT=$B/out
# crun keeps its state in /run/crun by default; the guest has no /run.
CRUN="crun --root=/tmp/crun-state --cgroup-manager=cgroupfs"

command -v crun >/dev/null || { echo "Bail out! no crun in the guest (scripts/deps.sh installs it)"; exit 1; }
[ -e /sys/fs/cgroup/cgroup.controllers ] || { echo "Bail out! no cgroup v2 at /sys/fs/cgroup"; exit 1; }
insmod $M/realgpu.ko vram_mb=64 || { echo "Bail out! insmod realgpu failed"; exit 1; }
insmod $M/mockgpu.ko targets=/dev/realgpu || { echo "Bail out! insmod mockgpu failed"; exit 1; }

hexdev() { set -- $(stat -c '%t %T' "$1"); echo "$((0x$1)) $((0x$2))"; }
set -- $(hexdev /dev/mockgpu/realgpu); PMAJ=$1 PMIN=$2
set -- $(hexdev /dev/realgpu); RMAJ=$1 RMIN=$2
echo "# proxy /dev/mockgpu/realgpu is c $PMAJ:$PMIN, the real /dev/realgpu is c $RMAJ:$RMIN"

# The image: busybox, the test program, the script the container runs, and a
# node of the real device left in it (as a careless image or volume might have).
rm -rf $B; mkdir -p $R/bin $R/proc $R/dev $R/sys $R/tmp
cp /bin/busybox $R/bin/
for a in $(busybox --list); do [ -e $R/bin/$a ] || ln -s busybox $R/bin/$a; done
cp /mockgpu/bin/crun_gpu $R/bin/
mknod $R/realgpu-shipped c $RMAJ $RMIN
cat > $R/inside.sh <<'INSIDE'
# Runs as the container's process: one PASS or FAIL line per key.
# $1 $2: the real device's number, $3: the proxy's major, $4: the limit in MiB.
RMAJ=$1 RMIN=$2 PMAJ=$3 LIMIT=$(($4 * 1024 * 1024)) MIB=1048576
t() {
  key=$1; shift
  out=$("$@" 2>&1); rc=$?
  [ -n "$out" ] && echo "$out" | sed "s/^/# $key: /"
  if [ $rc = 0 ]; then echo "PASS $key"; else echo "FAIL $key (exit $rc)"; fi
}
pid1() { echo "this script is pid $1"; [ "$1" = 1 ]; }
proxy() {
  set -- $(stat -c '%F %t' /dev/realgpu)
  echo "/dev/realgpu: $*"
  [ "$1 $2 $3" = "character special file" ] && [ $((0x$4)) = $PMAJ ]
}
# Every char node of the container (but the one the test put in the image):
# none is a mockgpu node or the real device.
devnodes() {
  ls /dev
  [ ! -e /dev/mockgpu ] && [ ! -e /dev/mockgpu-control ] || return 1
  real=$(printf '%x:%x' $RMAJ $RMIN) bad=0
  for f in $(find / \( -path /proc -o -path /sys \) -prune -o -type c -print); do
    [ $f = /realgpu-shipped ] && continue
    [ "$(stat -c %t:%T $f)" = $real ] && { echo "$f is the real device"; bad=1; }
  done
  return $bad
}
cgroup() { cat /proc/self/cgroup; grep -qx "0::/mockgpu-crun" /proc/self/cgroup; }
t pid1 pid1 $$
t proxy proxy
t devnodes devnodes
t cgroup cgroup
t gpu crun_gpu use /dev/realgpu
t mknod crun_gpu real /dev/stolen $RMAJ $RMIN
t shipped crun_gpu real /realgpu-shipped $RMAJ $RMIN
t limit crun_gpu fill /dev/realgpu $LIMIT
t nested sh /nested.sh $LIMIT
t nested_shared crun_gpu hold /dev/realgpu $((LIMIT - MIB)) sh /nested.sh $MIB
echo "INSIDE-END"
INSIDE
# In a new user and pid namespace inside the container (pid 1 there, root
# mapped to the container's root): fill the device, expecting EDQUOT after $1 bytes.
cat > $R/nested.sh <<'NESTED'
exec unshare -Urpf sh -c 'echo "nested: pid $$, uid_map $(cat /proc/self/uid_map)"
  [ $$ = 1 ] && exec crun_gpu fill /dev/realgpu '"$1"
NESTED

# The default capability set of an OCI container (containerd's and Docker's).
caps='"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
        "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"'
cat > $B/config.json <<JSON
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": { "uid": 0, "gid": 0 },
    "args": [ "/bin/sh", "/inside.sh", "$RMAJ", "$RMIN", "$PMAJ", "$LIMIT_MB" ],
    "env": [ "PATH=/bin", "HOME=/tmp" ],
    "cwd": "/",
    "capabilities": {
      "bounding": [ $caps ],
      "effective": [ $caps ],
      "permitted": [ $caps ]
    },
    "noNewPrivileges": true
  },
  "root": { "path": "rootfs", "readonly": true },
  "hostname": "$ID",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
      "options": [ "nosuid", "strictatime", "mode=755", "size=65536k" ] },
    { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
      "options": [ "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620" ] },
    { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
      "options": [ "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" ] },
    { "destination": "/sys", "type": "sysfs", "source": "sysfs",
      "options": [ "nosuid", "noexec", "nodev", "ro" ] },
    { "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
      "options": [ "nosuid", "nodev", "mode=1777" ] }
  ],
  "linux": {
    "namespaces": [
      { "type": "pid" }, { "type": "mount" }, { "type": "ipc" }, { "type": "uts" }
    ],
    "devices": [
      { "path": "/dev/realgpu", "type": "c", "major": $PMAJ, "minor": $PMIN,
        "fileMode": 438, "uid": 0, "gid": 0 }
    ],
    "resources": {
      "devices": [
        { "allow": false, "access": "rwm" },
        { "allow": true, "type": "c", "major": $PMAJ, "minor": $PMIN, "access": "rwm" }
      ]
    },
    "cgroupsPath": "/$ID",
    "maskedPaths": [ "/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware" ],
    "readonlyPaths": [ "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger" ]
  }
}
JSON

# The initramfs root cannot be pivot_root'ed away from (it has no parent
# mount): --no-pivot moves the rootfs over / instead, as on any initramfs.
check "crun runs in the guest ($(crun --version | head -n1))" crun --version
check "crun create (its own cgroup /sys/fs/cgroup/$ID, device filter, namespaces)" \
  sh -c "$CRUN create --no-pivot --bundle $B $ID >$OUT 2>&1 </dev/null || { cat $OUT; false; }"
pid=$($CRUN state $ID 2>/dev/null | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
echo "# container init is pid ${pid:-?} on the host, pid namespace id $(crun_gpu nsid "${pid:-0}")"
check "the container's init is in the container's cgroup" \
  sh -c "[ -n '$pid' ] && grep -qx '$pid' /sys/fs/cgroup/$ID/cgroup.procs"
check "mockgpuctl limit set --pid <container init> --memory ${LIMIT_MB}M" \
  mockgpuctl limit set --target realgpu --pid "${pid:-0}" --memory ${LIMIT_MB}M
check "crun start" $CRUN start $ID
n=0
while [ -n "$pid" ] && ! grep -q '^INSIDE-END' $OUT 2>/dev/null && [ $n -lt 120 ]; do
  sleep 1; n=$((n + 1))
done
check "the container ran to its end" grep -q '^INSIDE-END' $OUT
sed -n 's/^# /# inside: /p' $OUT
inside() { grep -q "^PASS $1\$" $OUT || { grep "^# $1: \|^FAIL $1" $OUT; false; }; }
check "inside, pid 1 is the container's process (own pid namespace)" inside pid1
check "inside, /dev/realgpu is the proxy (c $PMAJ:$PMIN, mockgpu's major)" inside proxy
check "inside, no mockgpu node and no other node of the real device" inside devnodes
check "inside, the container is in its own cgroup v2 (0::/$ID)" inside cgroup
check "inside, the GPU works through the proxy (GET_INFO, ALLOC 1 MiB, FREE)" inside gpu
check "inside, the real device c $RMAJ:$RMIN cannot be opened after mknod (EPERM)" inside mknod
check "inside, a real-device node shipped in the image cannot be opened (EPERM)" inside shipped
check "inside, ALLOC gets EDQUOT at the ${LIMIT_MB} MiB limit (device's vram_used)" inside limit
check "inside, in a nested unshare -Urpf the same limit holds" inside nested
check "inside, the nested namespace shares the container's quota (3 MiB held outside it, 1 MiB left in it)" inside nested_shared
$CRUN kill $ID KILL >/dev/null 2>&1
check "crun delete removes the container and its cgroup" \
  sh -c "$CRUN delete --force $ID && [ ! -e /sys/fs/cgroup/$ID ]"
check "afterwards the device's vram_used is 0 (nothing left allocated)" \
  sh -c 'out=$(crun_gpu info /dev/realgpu) && echo "$out" && echo "$out" | grep -q "vram_used 0 "'
# The bundle holds a node of the real device: leave nothing of it to later suites.
rm -rf $B /tmp/crun-state
done_testing
