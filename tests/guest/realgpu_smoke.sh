#!/bin/sh
# The simulated GPU's own test suite (tests/selftests/realgpu_smoke.c), run on
# the device named by $1: "direct" (/dev/realgpu) or "proxy" (through mockgpu).
# It must pass through the proxy exactly as it passes direct.
M=/mockgpu/modules
insmod $M/realgpu.ko vram_mb=64 || { echo "Bail out! insmod realgpu failed"; exit 1; }
insmod $M/mockgpu.ko targets=/dev/realgpu || { echo "Bail out! insmod mockgpu failed"; exit 1; }
case "$1" in
  direct) exec realgpu_smoke /dev/realgpu ;;
  proxy) exec realgpu_smoke /dev/mockgpu/realgpu ;;
esac
echo "Bail out! usage: realgpu_smoke.sh direct|proxy"
exit 1
