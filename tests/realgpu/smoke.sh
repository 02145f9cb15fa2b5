#!/bin/sh
# Guest script: load realgpu.ko and run the smoke test against it, twice
# (default pool, then a small one), unloading in between.
#
# From the top of the repository:
#   make vm-run RUN=tests/realgpu/smoke.sh
# or, with only realgpu.ko and the test binary in a directory D:
#   scripts/vm.sh --run tests/realgpu/smoke.sh --files D
set -u
ko=/mockgpu/modules/realgpu.ko
[ -e ./realgpu.ko ] && ko=./realgpu.ko
smoke=realgpu_smoke
[ -x ./realgpu_smoke ] && smoke=./realgpu_smoke

rc=0
for args in "" "vram_mb=16"; do
	echo "# insmod realgpu.ko $args"
	insmod "$ko" $args || exit 1
	ls -l /dev/realgpu
	$smoke /dev/realgpu || rc=1
	rmmod realgpu || rc=1
done
# Unloading waits for the jobs of closed files still queued.
insmod "$ko" || exit 1
$smoke --leave-jobs /dev/realgpu || rc=1
rmmod realgpu || rc=1
# A bad parameter is refused.
if insmod "$ko" vram_mb=0 2>/dev/null; then
	echo "# vram_mb=0 was accepted"
	rmmod realgpu
	rc=1
fi
exit $rc
