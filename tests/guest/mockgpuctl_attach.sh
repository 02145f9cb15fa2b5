#!/bin/sh
# mockgpuctl attach, cdi and metrics: the proxy bound over the real node
# inside a running container's mount namespace (the host's node left alone),
# a CDI spec that maps each proxy node to its real path, and the usage as
# Prometheus metrics. Then compute shares per driver: offered on realgpu
# (drm-engine-gfx in its fdinfo), refused with a reason on vgem (no engine
# time), in status, limit set and metrics. Last, the cgroup v2 dmem
# controller's numbers for vgem's region in usage and metrics, against the
# cgroup's own dmem files.
. /mockgpu/tests/ktap.sh
plan 24
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
check "usage ends with the cgroup dmem section (a line starting with dmem)" \
  sh -c 'out=$(mockgpuctl usage) && echo "$out" | grep -q "^dmem"'

# Compute shares: realgpu reports engine time (drm-engine-gfx), vgem none (no
# fdinfo statistics), so a share there would never be enforced.
for h in drm_shmem_helper drm_gem_shmem_helper; do
  [ -e "$M/$h.ko" ] && { insmod "$M/$h.ko"; break; }
done
insmod $M/vgem.ko || { echo "Bail out! insmod vgem failed"; exit 1; }
. /mockgpu/tests/vgem-nodes.sh
mockgpuctl target add "/dev/dri/$render" 2>&1 | sed 's/^/# /'
# expect_line LINE CMD...: CMD succeeds and prints LINE (stdout or stderr).
expect_line() {
  line=$1; shift
  out=$("$@" 2>&1) || { echo "$out"; echo "failed: $*"; return 1; }
  echo "$out" | grep -qxF -- "$line" || { echo "$out"; echo "no line: $line"; return 1; }
}
# refused_with LINE CMD...: CMD fails and prints LINE.
refused_with() {
  line=$1; shift
  if out=$("$@" 2>&1); then echo "$out"; echo "succeeded: $*"; return 1; fi
  echo "$out" | grep -qxF -- "$line" || { echo "$out"; echo "no line: $line"; return 1; }
}
# quiet CMD...: CMD succeeds and writes nothing to stderr.
quiet() {
  out=$("$@" 2>/tmp/quiet.err) || { echo "$out"; cat /tmp/quiet.err; return 1; }
  [ ! -s /tmp/quiet.err ] || { cat /tmp/quiet.err; return 1; }
}
check "status: realgpu's compute is measured from its engine gfx" \
  expect_line "  realgpu: /dev/mockgpu/realgpu -> /dev/realgpu (realgpu), compute: measured (engines: gfx)" \
  mockgpuctl status
check "status: $render's compute is unavailable (vgem reports no engine time)" \
  expect_line "  $render: /dev/mockgpu/$render -> /dev/dri/$render (vgem), compute: unavailable (driver reports no engine time)" \
  mockgpuctl status
check "limit set --compute 30% on $render is refused, saying why and what still applies" \
  refused_with "mockgpuctl: compute shares are unavailable for target $render: its driver (vgem) reports no engine time in fdinfo (drm-engine-*); memory and files limits still apply" \
  mockgpuctl limit set --target "$render" --pidns 4242 --memory 1M --compute 30%
check_fails "the refused share set nothing (no tenant pidns 4242 on $render)" \
  mockgpuctl limit get --target "$render" --pidns 4242
# forced: --force sets the share on $render, warns that it is not enforced,
# and says so in its report.
forced() {
  out=$(mockgpuctl limit set --target "$render" --pidns 4242 --compute 30% --force 2>&1) &&
    echo "$out" | grep -qxF "mockgpuctl: warning: compute shares are unavailable for target $render: its driver (vgem) reports no engine time in fdinfo (drm-engine-*); memory and files limits still apply; setting compute 30% anyway (--force): mockgpu charges nothing against it" &&
    echo "$out" | grep -qxF "$render: pidns 4242 limited to memory -, files -, compute 30% (the compute share is not enforced: no engine time)" &&
    mockgpuctl limit get --target "$render" --pidns 4242 | grep -qxF "$render: pidns 4242: memory -, files -, compute 30%" ||
    { echo "$out"; return 1; }
}
check "with --force the share is set, with a warning that it is not enforced" forced
check "memory and files limits on $render need no --force and warn of nothing" \
  quiet mockgpuctl limit set --target "$render" --pidns 4243 --memory 1M --files 2
check "a compute share on realgpu is set without a warning" \
  quiet mockgpuctl limit set --target realgpu --pidns 4244 --compute 30%
check "metrics: mockgpu_compute_available is 1 for realgpu, 0 for $render" \
  sh -c "mockgpuctl metrics > /tmp/metrics.txt &&
         grep -qx '# TYPE mockgpu_compute_available gauge' /tmp/metrics.txt &&
         grep -qx 'mockgpu_compute_available{target=\"realgpu\"} 1' /tmp/metrics.txt &&
         grep -qx 'mockgpu_compute_available{target=\"$render\"} 0' /tmp/metrics.txt ||
         { grep compute_available /tmp/metrics.txt; exit 1; }"

# cgroup v2 dmem: the card target registers the region mockgpu/$card. A cgroup
# limited to 1 MiB there runs a DRM client through the proxy (proxy_vgem on
# the card pair; its own verdict is the vgem suite's, not ours: it is here to
# allocate, and the proxy side is refused past 1 MiB). Then mockgpuctl must
# show the cgroup's current, max and peak exactly as its own dmem files do.
mockgpuctl target add "/dev/dri/$card" 2>&1 | sed 's/^/# /'
region=mockgpu/$card cgname=mockgpuctl_dmem
cg=/sys/fs/cgroup/$cgname
grep -qw dmem /sys/fs/cgroup/cgroup.subtree_control && had_dmem=1 || had_dmem=0
echo +dmem > /sys/fs/cgroup/cgroup.subtree_control
mkdir -p "$cg"
echo "$region 1048576" > "$cg/dmem.max"
# dmemval FILE: the value of $region in dmem file FILE.
dmemval() { awk -v r="$region" '$1 == r {print $2}' "$1"; }
sh -c "echo \$\$ > $cg/cgroup.procs && exec timeout 600 proxy_vgem /dev/dri/$card /dev/mockgpu/$card" \
  > /tmp/proxy_vgem.out 2>&1
echo "# proxy_vgem in $cgname: $(grep -c '^ok' /tmp/proxy_vgem.out) ok, $(grep -c '^not ok' /tmp/proxy_vgem.out) not ok"
# Every object is freed once its last reference goes (the reaper: 1 s).
for _ in $(seq 50); do [ "$(dmemval "$cg/dmem.current")" = 0 ] && break; sleep 0.1; done
cur=$(dmemval "$cg/dmem.current") max=$(dmemval "$cg/dmem.max") peak=$(dmemval "$cg/dmem.peak")
cap=$(dmemval /sys/fs/cgroup/dmem.capacity)
echo "# $cg: $region current $cur, max $max, peak $peak; capacity $cap"
check "dmem: the client allocated in $region through the proxy, within dmem.max (0 < peak $peak <= 1 MiB, current back to $cur)" \
  sh -c "[ '$cur' = 0 ] && [ '$max' = 1048576 ] && [ '${peak:-0}' -gt 0 ] && [ '$peak' -le 1048576 ] && [ -n '$cap' ]"
dmem_table() {
  out=$(mockgpuctl usage) || { echo "$out"; return 1; }
  echo "$out" | grep -q "^dmem regions: .*$region " &&
    echo "$out" | awk -v c="/$cgname" -v r="$region" '$1 == c && $2 == r && $3 == "0" && $4 == "1.0M" {f=1} END {exit !f}' ||
    { echo "$out"; return 1; }
}
check "usage: the dmem table lists /$cgname in $region, current 0, max 1.0M" dmem_table
dmem_json() {
  out=$(mockgpuctl usage --json --dmem) || { echo "$out"; return 1; }
  flat=$(echo "$out" | tr -d ' \n')
  case $flat in '{"dmem":{"available":true,'*) ;; *) echo "$out"; return 1 ;; esac
  echo "$flat" | grep -qF '"tenants":[' &&
    echo "$flat" | grep -qF "{\"capacity_bytes\":$cap,\"region\":\"$region\"}" &&
    echo "$flat" | grep -qF "{\"cgroup\":\"/$cgname\",\"current_bytes\":$cur,\"max_bytes\":$max,\"peak_bytes\":$peak,\"region\":\"$region\"}" ||
    { echo "$out"; return 1; }
}
check "usage --json --dmem: /$cgname's current, max and peak bytes and the capacity equal the cgroup files" dmem_json
check "usage --json (without --dmem) is still the array of tenants" \
  sh -c 'mockgpuctl usage --json | head -n1 | grep -qx "\["'
dmem_metrics() {
  mockgpuctl metrics > /tmp/metrics.txt || return 1
  l="cgroup=\"/$cgname\",region=\"$region\""
  for line in "# TYPE mockgpu_dmem_capacity_bytes gauge" "# TYPE mockgpu_dmem_current_bytes gauge" \
    "# TYPE mockgpu_dmem_max_bytes gauge" "# TYPE mockgpu_dmem_peak_bytes gauge" \
    "mockgpu_dmem_capacity_bytes{region=\"$region\"} $cap" \
    "mockgpu_dmem_current_bytes{$l} $cur" "mockgpu_dmem_max_bytes{$l} $max" \
    "mockgpu_dmem_peak_bytes{$l} $peak"; do
    grep -qxF -- "$line" /tmp/metrics.txt || { grep dmem /tmp/metrics.txt; echo "no line: $line"; return 1; }
  done
}
check "metrics: mockgpu_dmem_{capacity,current,max,peak}_bytes of /$cgname equal the cgroup files" dmem_metrics
mockgpuctl usage 2>&1 | sed -n '/^dmem/,$p' | sed 's/^/# /'
# Without a limit and with nothing charged the cgroup is not listed.
echo "$region max" > "$cg/dmem.max"
check "with dmem.max back to max and nothing charged, /$cgname is not listed" \
  sh -c "mockgpuctl metrics > /tmp/metrics.txt && ! grep -q 'cgroup=\"/$cgname\"' /tmp/metrics.txt &&
         ! mockgpuctl usage | grep -q '^/$cgname '"
rmdir "$cg"
[ "$had_dmem" = 1 ] || echo -dmem > /sys/fs/cgroup/cgroup.subtree_control
rm -f /tmp/metrics.txt /tmp/proxy_vgem.out
{
  mockgpuctl target remove "$card"
  mockgpuctl limit clear --target "$render" --pidns 4242
  mockgpuctl limit clear --target "$render" --pidns 4243
  mockgpuctl limit clear --target realgpu --pidns 4244
  mockgpuctl target remove "$render"
} 2>&1 | sed 's/^/# /'
done_testing
