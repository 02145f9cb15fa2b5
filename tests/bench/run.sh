#!/bin/sh
# make bench, in the guest: the simulated GPU, mockgpu over it, a CUSE
# forwarder beside it, then the benchmark.
M=/mockgpu/modules
insmod $M/realgpu.ko vram_mb=512 || exit 1
insmod $M/mockgpu.ko targets=/dev/realgpu || exit 1
cuse_realgpu -f >/tmp/cuse.log 2>&1 &
for i in 1 2 3 4 5 6 7 8 9 10; do [ -e /dev/cuse-realgpu ] && break; sleep 0.2; done
[ -e /dev/cuse-realgpu ] || { echo "# CUSE forwarder did not start:"; cat /tmp/cuse.log; }
echo "# machine: $(nproc) vCPUs (QEMU TCG${BENCH_CLOCK:+, $BENCH_CLOCK}), kernel $(uname -r) without debug options"
bench
# Scaling needs vCPUs that run in parallel, which instruction counting does not give.
[ -n "$BENCH_CLOCK" ] && exit 0
echo "# separate run: scaling and many tenants"
timeout 300 bench --extras
