#!/bin/sh
# Discovery by device number through a proxy (issue 14), on a real DRM driver
# of a PCI device (QEMU's virtio-gpu-pci, scripts/vm.sh).
#
# 1. libdrm, linked from the distribution: Debian's `drmdevice` and
#    drm_discover (drmGetDevice2, drmGetDeviceNameFromFd2, drmGetNodeTypeFromFd;
#    tests/discover/drm_discover.c) print the same thing on the real nodes and,
#    in a private mount namespace, on the proxies bind-mounted at the real
#    paths. The node type derived from the proxy's minor is the real one's.
# 2. Nothing looked up by a proxy's number alone lands on another device's
#    files: with vgem, virtio-gpu, the simulated GPU and two VT nodes whose
#    minors are those of DRM nodes (vcs 7:0, vcsa 7:128) as targets, added in
#    one order and then (all removed, re-added) in the other, the proxy's
#    /sys/dev/char/<major>:<minor>/device is the real node's (or neither has
#    one), and /sys/kernel/debug/dri/<minor>/name is the real minor's.
. /mockgpu/tests/ktap.sh
# Two VT nodes whose minors are those of DRM nodes (the first card, the first
# render node): their proxies and the DRM nodes' need different majors.
VT=""
for p in /dev/vcs /dev/vcsa; do [ -c $p ] && VT="$VT $p"; done
set -- $VT
plan $((9 + 2 + 4 * (5 + $#)))
T=/tmp/discovery
rm -rf $T; mkdir -p $T
note() { echo "# $*"; }

. /mockgpu/tests/drm-lib.sh
# On any exit: the suites after this one find vgem at card0 again.
unload_all() {
  for m in mockgpu virtio_gpu vgem realgpu drm_kms_helper drm_shmem_helper virtio_dma_buf; do
    grep -q "^$m " /proc/modules && { rmmod "$m" 2>&1 | sed 's/^/# /'; }
  done
}
trap unload_all EXIT
# numbers PATH: "major minor" of a char node, in decimal.
numbers() { set -- $(stat -c '%t %T' "$1"); echo "$((0x$1)) $((0x$2))"; }
command -v drmdevice > /dev/null || { echo "Bail out! no drmdevice in the guest (scripts/deps.sh installs libdrm-tests)"; exit 1; }
[ -d /sys/kernel/debug/dri ] || { echo "Bail out! no debugfs at /sys/kernel/debug"; exit 1; }
load virtio_gpu || { echo "Bail out! cannot load virtio-gpu"; exit 1; }
VCARD=$(drm_node virtio_gpu card) && VREND=$(drm_node virtio_gpu renderD) ||
  { echo "Bail out! virtio-gpu has no card or render node (is -device virtio-gpu-pci there?)"; exit 1; }
note "virtio-gpu: /dev/dri/$VCARD, /dev/dri/$VREND, device $(readlink -f /sys/class/drm/$VCARD/device)"
# The render node first, so that an allocator that numbers proxies in order
# would not give it the real minor by chance.
insmod $M/mockgpu.ko targets=/dev/dri/$VREND,/dev/dri/$VCARD || { echo "Bail out! insmod mockgpu failed"; exit 1; }
for n in $VCARD $VREND; do note "$n: real $(numbers /dev/dri/$n), proxy $(numbers /dev/mockgpu/$n)"; done

# --- 1. libdrm, direct and through the proxies at the real paths ---
# run_all SUFFIX: drmdevice, drm_discover on both nodes, and what the nodes are.
cat > $T/run_all.sh <<EOF
for n in $VCARD $VREND; do stat -c "\$n %t:%T" /dev/dri/\$n; done > $T/nodes.\$1
drmdevice > $T/drmdevice.\$1 2>&1; echo "exit \$?" >> $T/drmdevice.\$1
drm_discover /dev/dri/$VCARD > $T/card.\$1 2>&1; echo "exit \$?" >> $T/card.\$1
drm_discover /dev/dri/$VREND > $T/render.\$1 2>&1; echo "exit \$?" >> $T/render.\$1
EOF
sh $T/run_all.sh direct
unshare -m sh -c "mount --bind /dev/mockgpu/$VCARD /dev/dri/$VCARD &&
  mount --bind /dev/mockgpu/$VREND /dev/dri/$VREND && sh $T/run_all.sh proxy" 2>&1 | sed 's/^/# /'
echo "# drmdevice, direct:"; sed 's/^/#   /' $T/drmdevice.direct
echo "# drm_discover /dev/dri/$VCARD, direct:"; sed 's/^/#   /' $T/card.direct
# same WHAT: the outputs direct and through the proxies are the same.
same() { diff -u $T/$1.direct $T/$1.proxy; }
pci_device() { cat $T/card.direct; grep -qx 'device.bustype 0 pci' $T/card.direct && grep -qx 'exit 0' $T/card.direct; }
proxies_bound() {
  for n in $VCARD $VREND; do
    echo "$n: $(stat -c '%t:%T' /dev/mockgpu/$n) expected, in the namespace: $(grep "^$n " $T/nodes.proxy)"
    grep -qx "$n $(stat -c '%t:%T' /dev/mockgpu/$n)" $T/nodes.proxy || return 1
  done
}
check "virtio-gpu is a PCI device to libdrm (drm_discover, direct)" pci_device
check "in the namespace, /dev/dri/$VCARD and /dev/dri/$VREND are the proxies" proxies_bound
check "drmdevice prints the same devices through the proxies" same drmdevice
check "drm_discover $VCARD: same device, names and node type through the proxy" same card
check "drm_discover $VREND: same device, names and node type through the proxy" same render
# node_type NODE TYPE: the node type libdrm derives from the minor (minor >> 6)
# is TYPE for the real node and for its proxy.
node_type() {
  set -- "$1" "$2" $(numbers /dev/dri/$1) $(numbers /dev/mockgpu/$1)
  echo "real minor $4 -> type $(($4 >> 6)), proxy minor $6 -> type $(($6 >> 6)), expected $2"
  [ $(($4 >> 6)) = "$2" ] && [ $(($6 >> 6)) = "$2" ]
}
check "node type from the proxy's minor: $VCARD is primary (0)" node_type $VCARD 0
check "node type from the proxy's minor: $VREND is render (2)" node_type $VREND 2
# devname NODE: the proxy's uevent names the real node (DEVNAME=dri/...).
devname() {
  set -- "$1" $(numbers /dev/dri/$1) $(numbers /dev/mockgpu/$1)
  r=$(grep '^DEVNAME=' /sys/dev/char/$2:$3/uevent) p=$(grep '^DEVNAME=' /sys/dev/char/$4:$5/uevent)
  echo "real $r, proxy $p"
  [ "$r" = "$p" ]
}
check "the uevent of $VCARD's proxy names the real node" devname $VCARD
check "the uevent of $VREND's proxy names the real node" devname $VREND
rmmod mockgpu

# --- 2. lookups by the proxy's number, targets added in both orders ---
load vgem || { echo "Bail out! cannot load vgem"; exit 1; }
insmod $M/realgpu.ko vram_mb=16 || { echo "Bail out! insmod realgpu failed"; exit 1; }
GCARD=$(drm_node vgem card) && GREND=$(drm_node vgem renderD) ||
  { echo "Bail out! vgem has no card or render node"; exit 1; }
insmod $M/mockgpu.ko || { echo "Bail out! insmod mockgpu failed"; exit 1; }
ORDER="/dev/dri/$GCARD /dev/dri/$GREND /dev/dri/$VCARD /dev/dri/$VREND /dev/realgpu$VT"
REVERSE=$(for p in $ORDER; do echo "$p"; done | sed -n '1!G;h;$p')
# add_all PATH...: adds the targets in this order.
add_all() {
  for p in "$@"; do mockgpuctl target add "$p" > /dev/null || return 1; done
}
remove_all() { for p in "$@"; do mockgpuctl target remove "${p##*/}" > /dev/null || return 1; done; }
# device_of M:m: where /sys/dev/char/M:m/device leads, or "none".
device_of() {
  [ -e /sys/dev/char/$1 ] || { echo "no /sys/dev/char/$1"; return; }
  if [ -e /sys/dev/char/$1/device ]; then readlink -f /sys/dev/char/$1/device; else echo none; fi
}
for p in $ORDER; do note "$p is c $(numbers $p), device $(device_of $(numbers $p | tr ' ' :))"; done
# sysfs_same PATH: the proxy's number leads to the real node's device in sysfs.
sysfs_same() {
  p=$(device_of $(numbers /dev/mockgpu/${1##*/} | tr ' ' :)) r=$(device_of $(numbers $1 | tr ' ' :))
  echo "proxy -> $p, real -> $r"
  [ "$r" = "$p" ]
}
# debugfs_name MINOR: what DRM's debugfs has for that minor, or "none".
debugfs_name() { cat /sys/kernel/debug/dri/$1/name 2>/dev/null || echo none; }
# debugfs_same PATH: debugfs by the proxy's minor is debugfs by the real minor.
debugfs_same() {
  set -- "$1" $(numbers /dev/mockgpu/${1##*/}) $(numbers $1)
  p=$(debugfs_name $3) r=$(debugfs_name $5)
  echo "dri/$3 (proxy): $p; dri/$5 (real): $r"
  [ "$r" = "$p" ]
}
# lookups ORDER_NAME PATH...: one sysfs and one debugfs check per target.
lookups() {
  o=$1; shift
  for p in "$@"; do
    check "$o: /sys/dev/char/<proxy of ${p##*/}>/device is the real node's" sysfs_same $p
    check "$o: debugfs dri/<proxy of ${p##*/} minor> is the real node's" debugfs_same $p
  done
}
# numbers_note PATH...: each proxy's number and its real node's.
numbers_note() {
  for p in "$@"; do note "${p##*/}: proxy c $(numbers /dev/mockgpu/${p##*/} 2>&1), real c $(numbers $p)"; done
}
check "targets added: $(echo $ORDER | sed 's|/dev/||g')" add_all $ORDER
numbers_note $ORDER
lookups "in order" $ORDER
readd() { remove_all $ORDER && add_all $REVERSE; }
check "all removed, added in reverse order" readd
numbers_note $REVERSE
lookups "reverse order" $REVERSE
done_testing
