#!/bin/sh
# make demo: one simulated GPU shared by two "containers" held to different limits.
M=/mockgpu/modules
say() { printf '\n== %s\n' "$*"; }

say "One GPU: the simulated /dev/realgpu with 256 MiB of VRAM"
insmod $M/realgpu.ko vram_mb=256 || exit 1
say "mockgpu proxies it at /dev/mockgpu/realgpu (insmod mockgpu.ko targets=/dev/realgpu)"
insmod $M/mockgpu.ko targets=/dev/realgpu || exit 1
ls -l /dev/realgpu /dev/mockgpu/realgpu

say "Two containers, each with the proxy bind-mounted at /dev/realgpu:"
echo "   A: mockgpuctl run --memory 96M --compute 70% -- gpuload"
echo "   B: mockgpuctl run --memory 32M --compute 30% -- gpuload"
echo "   Each allocates 16 MiB buffers until refused, checks data through mmap,"
echo "   then keeps the GPU busy for 4 s with 5 ms jobs."
mockgpuctl run --memory 96M --compute 70% -- gpuload -n A -s 4 > /tmp/A.log 2>&1 &
a=$!
mockgpuctl run --memory 32M --compute 30% -- gpuload -n B -s 4 > /tmp/B.log 2>&1 &
b=$!
sleep 3
say "While they run (mockgpuctl usage):"
mockgpuctl usage
wait $a; ra=$?
wait $b; rb=$?
say "What each container saw:"
cat /tmp/A.log /tmp/B.log
say "Each container's share of the device's busy time, by the device's own count (realgpu's"
echo "   per-context engine time in fdinfo, drm-engine-gfx, summed per container):"
awk '/device busy time:/ { s[FILENAME] += $5; t += $5 }
  END { for (f in s) { n = f; gsub(/^\/tmp\/|\.log$/, "", n)
    printf "   %s: %.2f s, %.1f%%\n", n, s[f], t ? 100 * s[f] / t : 0 } }' /tmp/A.log /tmp/B.log | sort
say "Inside a container, /dev/realgpu is the proxy and the real device is out of reach:"
mockgpuctl run --memory 16M -- sh -c '
  echo "   /dev/realgpu is $(stat -c "%t:%T" /dev/realgpu) (major:minor, hex): the proxy"
  mknod /tmp/real c '"$(stat -c '0x%t 0x%T' /dev/realgpu)"' 2>/dev/null &&
    echo "   mknod of the real device: ALLOWED (bad)" || echo "   mknod of the real device: refused"
  umount /dev/realgpu 2>/dev/null && echo "   umount: ALLOWED (bad)" || echo "   umount of the proxy: refused"'
say "After both exited, every charge is returned (mockgpuctl usage):"
mockgpuctl usage
[ $ra = 0 ] && [ $rb = 0 ]
