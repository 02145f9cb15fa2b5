#!/bin/sh
# podman reads mockgpu's CDI spec. `mockgpuctl cdi --output /etc/cdi --memory
# 4M` writes one CDI device per target (the proxy node at the real node's
# path) with a createRuntime hook that sets the limit for the container's
# tenant; then Debian's podman (conmon, crun, the vfs storage driver, no
# network, a local rootfs) runs `podman run --device mockgpu.dev/gpu=realgpu`
# and nothing else. Inside: the proxy sits at /dev/realgpu with the proxy's
# number, the GPU works through it, the real device cannot be reached, and
# the limit holds, judged by the device's own vram_used. A second container,
# from a spec without limits, allocates past them: the limit came from the
# spec's hook. Also: errors of `mockgpuctl cdi` a person can act on.
. /mockgpu/tests/ktap.sh
plan 18
t0=$(date +%s)
LIMIT_MB=4
KIND=mockgpu.dev/gpu
NAME=mockgpu-podman
R=/tmp/podman-rootfs
S=/tmp/podman
OUT=/tmp/podman-out

command -v podman >/dev/null || { echo "Bail out! no podman in the guest (scripts/deps.sh installs it)"; exit 1; }
[ -e /sys/fs/cgroup/cgroup.controllers ] || { echo "Bail out! no cgroup v2 at /sys/fs/cgroup"; exit 1; }
insmod $M/realgpu.ko vram_mb=64 || { echo "Bail out! insmod realgpu failed"; exit 1; }
insmod $M/mockgpu.ko || { echo "Bail out! insmod mockgpu failed"; exit 1; }

# What podman and the test make outside /tmp is removed at the end, unless
# it was there before.
made=""
for d in /etc/cdi /etc/containers /etc/cni /run/crun; do [ -e $d ] || made="$made $d"; done

# Errors a person can act on: a spec needs a target; a read-only /etc/cdi.
mkdir -p /etc/cdi /etc/containers
check "mockgpuctl cdi with no target fails and says how to add one" \
  sh -c 'out=$(mockgpuctl cdi 2>&1); rc=$?; echo "$out"
         [ $rc != 0 ] && echo "$out" | grep -q "mockgpuctl target add"'
mockgpuctl target add /dev/realgpu >/dev/null || { echo "Bail out! target add failed"; exit 1; }
mount -t tmpfs -o ro tmpfs /etc/cdi
check "mockgpuctl cdi --output on a read-only /etc/cdi fails, naming the file and /var/run/cdi" \
  sh -c 'out=$(mockgpuctl cdi --output /etc/cdi 2>&1); rc=$?; echo "$out"
         [ $rc != 0 ] && echo "$out" | grep -q "/etc/cdi/mockgpu.json: Read-only file system" &&
         echo "$out" | grep -q "/var/run/cdi"'
umount /etc/cdi

hexdev() { set -- $(stat -c '%t %T' "$1"); echo "$((0x$1)) $((0x$2))"; }
set -- $(hexdev /dev/mockgpu/realgpu); PMAJ=$1 PMIN=$2
set -- $(hexdev /dev/realgpu); RMAJ=$1 RMIN=$2
echo "# proxy /dev/mockgpu/realgpu is c $PMAJ:$PMIN, the real /dev/realgpu is c $RMAJ:$RMIN"

check "mockgpuctl cdi --output /etc/cdi --memory ${LIMIT_MB}M writes /etc/cdi/mockgpu.json" \
  mockgpuctl cdi --kind $KIND --output /etc/cdi --memory ${LIMIT_MB}M
sed 's/^/# /' /etc/cdi/mockgpu.json
has() { tr -d ' \n' < "$1" | grep -qF "$2" || { echo "$1 has no $2"; false; }; }
spec_maps() {
  has /etc/cdi/mockgpu.json '"cdiVersion":"0.5.0"' &&
  has /etc/cdi/mockgpu.json "\"kind\":\"$KIND\"" &&
  has /etc/cdi/mockgpu.json '"name":"realgpu"' &&
  has /etc/cdi/mockgpu.json '"deviceNodes":[{"hostPath":"/dev/mockgpu/realgpu","path":"/dev/realgpu","permissions":"rw","type":"c"}]'
}
spec_hook() {
  has /etc/cdi/mockgpu.json '"hookName":"createRuntime","path":"/mockgpu/bin/mockgpuctl"' &&
  has /etc/cdi/mockgpu.json "\"cdi\",\"hook\",\"--target\",\"realgpu\",\"--memory\",\"$((LIMIT_MB << 20))\""
}
check "the spec: CDI 0.5.0, kind $KIND, device realgpu: /dev/mockgpu/realgpu at /dev/realgpu (c, rw)" spec_maps
check "the spec's device runs mockgpuctl cdi hook --target realgpu --memory $((LIMIT_MB << 20)) at createRuntime" spec_hook

# podman as root, configured for this guest: state under /tmp, the vfs
# driver, cgroupfs (no systemd), events and logs in files (no journald), and
# crun with --no-pivot (the initramfs root cannot be pivot_root'ed away).
# What the test kernel lacks, worked around (the kernel config is not ours
# to change here): no CONFIG_INET, so no net.ipv4 sysctls (podman's default
# sets net.ipv4.ping_group_range); no CONFIG_POSIX_MQUEUE, so no mqueue
# file system for /dev/mqueue (a tmpfs there instead).
cat > /etc/containers/storage.conf <<EOF
[storage]
driver = "vfs"
runroot = "$S/run"
graphroot = "$S/storage"
EOF
sysctls=""
[ -e /proc/sys/net/ipv4 ] || sysctls="default_sysctls = []"
cat > /etc/containers/containers.conf <<EOF
[containers]
log_driver = "k8s-file"
$sysctls
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "crun"
no_pivot_root = true
tmp_dir = "$S/tmp"
EOF
mq=""
grep -qw mqueue /proc/filesystems || mq="--tmpfs /dev/mqueue"
# podman's locks are POSIX shared memory.
shm_mounted=0
if ! grep -q ' /dev/shm ' /proc/mounts; then
  mkdir -p /dev/shm && mount -t tmpfs -o mode=1777 shm /dev/shm && shm_mounted=1
fi

# The image: busybox, the test program, the script the container runs, and a
# node of the real device left in it (as a careless image might have).
rm -rf $R $S; mkdir -p $R/bin $R/proc $R/dev $R/sys $R/tmp $R/etc $R/run
cp /bin/busybox $R/bin/
for a in sh cat find ls sed stat true; do ln -s busybox $R/bin/$a; done
cp /mockgpu/bin/crun_gpu $R/bin/
mknod $R/realgpu-shipped c $RMAJ $RMIN
cat > $R/inside.sh <<'INSIDE'
# Runs as the container's process: one PASS or FAIL line per key.
# $1 $2: the real device's number, $3 $4: the proxy's, $5: the limit in MiB.
RMAJ=$1 RMIN=$2 PMAJ=$3 PMIN=$4 LIMIT=$(($5 * 1024 * 1024))
t() {
  key=$1; shift
  out=$("$@" 2>&1); rc=$?
  [ -n "$out" ] && echo "$out" | sed "s/^/# $key: /"
  if [ $rc = 0 ]; then echo "PASS $key"; else echo "FAIL $key (exit $rc)"; fi
}
pid1() { echo "this script is pid $1"; [ "$1" = 1 ]; }
proxy() {
  set -- $(stat -c '%F %t %T' /dev/realgpu)
  echo "/dev/realgpu: $*"
  [ "$1 $2 $3" = "character special file" ] && [ $((0x$4)) = $PMAJ ] && [ $((0x$5)) = $PMIN ]
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
t pid1 pid1 $$
t proxy proxy
t devnodes devnodes
t gpu crun_gpu use /dev/realgpu
t mknod crun_gpu real /dev/stolen $RMAJ $RMIN
t shipped crun_gpu real /realgpu-shipped $RMAJ $RMIN
t limit crun_gpu fill /dev/realgpu $LIMIT
echo "INSIDE-END"
INSIDE

start=$(date +%s)
echo "# setup: $((start - t0)) s"
timeout 300 podman run --name $NAME --network none $mq --device $KIND=realgpu --rootfs $R \
  /bin/sh /inside.sh $RMAJ $RMIN $PMAJ $PMIN $LIMIT_MB > $OUT 2>&1
rc=$?
echo "# podman run: exit $rc in $(( $(date +%s) - start )) s"
check "podman run --device $KIND=realgpu ran the container to its end" \
  sh -c "[ $rc = 0 ] && grep -q '^INSIDE-END' $OUT || { cat $OUT; false; }"
sed -n 's/^# /# inside: /p' $OUT
inside() { grep -q "^PASS $1\$" $OUT || { grep "^# $1: \|^FAIL $1" $OUT; false; }; }
check "inside, pid 1 is the container's process (own pid namespace)" inside pid1
check "inside, /dev/realgpu is the proxy (c $PMAJ:$PMIN), not the real c $RMAJ:$RMIN" inside proxy
check "inside, no mockgpu node and no other node of the real device" inside devnodes
check "inside, the GPU works through the proxy (GET_INFO, ALLOC 1 MiB, FREE)" inside gpu
check "inside, the real device c $RMAJ:$RMIN cannot be made and opened (EPERM)" inside mknod
check "inside, a real-device node shipped in the image cannot be opened (EPERM)" inside shipped
check "inside, ALLOC gets EDQUOT at the ${LIMIT_MB} MiB the hook set (device's vram_used)" inside limit
# What podman made of the spec: the OCI config it gave crun.
cfg=$(ls $S/storage/vfs-containers/*/userdata/config.json 2>/dev/null | head -n1)
oci_devices() {
  [ -n "$cfg" ] || { echo "no config.json under $S/storage"; return 1; }
  tr -d ' \n' < "$cfg" | grep -oE '"(devices|resources)":[[{]"[^]]*]'
  has "$cfg" "\"devices\":[{\"path\":\"/dev/realgpu\",\"type\":\"c\",\"major\":$PMAJ,\"minor\":$PMIN}" &&
  has "$cfg" "\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":$PMAJ,\"minor\":$PMIN,\"access\":\"rw\"}]" &&
  ! tr -d ' \n' < "$cfg" | grep -qE "\"major\":$RMAJ,\"minor\":$RMIN[,}]"
}
oci_hook() {
  has "$cfg" '"hooks":{"createRuntime":[{"path":"/mockgpu/bin/mockgpuctl","args":["mockgpuctl","--control","/dev/mockgpu-control","cdi","hook","--target","realgpu"'
}
check "podman's OCI config: /dev/realgpu is c $PMAJ:$PMIN, the device cgroup allows only that (rw)" oci_devices
check "podman's OCI config: createRuntime runs mockgpuctl cdi hook" oci_hook
check "podman rm removes the container (and its OCI config)" \
  sh -c "podman rm $NAME && [ -n '$cfg' ] && [ ! -e '$cfg' ]"
echo "# podman rm: $(( $(date +%s) - start )) s since the first podman run"

# The control: a spec without limits has no hook, and the same container
# then allocates twice the limit.
check "without limits in the spec, a container allocates $((2 * LIMIT_MB)) MiB (the limit came from the hook)" \
  sh -c "mockgpuctl cdi --kind $KIND --output /etc/cdi >/dev/null &&
         ! grep -q hookName /etc/cdi/mockgpu.json &&
         timeout 300 podman run --rm --network none $mq --device $KIND=realgpu --rootfs $R \
           crun_gpu hold /dev/realgpu $((2 * LIMIT_MB << 20)) true"
check "afterwards the device's vram_used is 0 and nothing is charged" \
  sh -c 'out=$(crun_gpu info /dev/realgpu) && echo "$out" && echo "$out" | grep -q "vram_used 0 " &&
         u=$(mockgpuctl usage --json) && ! echo "$u" | grep -q "\"files\": [1-9]"'
echo "# podman: $(( $(date +%s) - start )) s, the whole test: $(( $(date +%s) - t0 )) s"

# A container a failed check left behind.
ls -d $S/storage/vfs-containers/*/userdata >/dev/null 2>&1 && podman rm -af >/dev/null 2>&1
rm -rf $R $S $OUT /etc/cdi/mockgpu.json /etc/containers/storage.conf /etc/containers/containers.conf
for d in $made; do rm -rf $d; done
rmdir /sys/fs/cgroup/libpod_parent/* /sys/fs/cgroup/libpod_parent 2>/dev/null
[ $shm_mounted = 1 ] && umount /dev/shm
done_testing
