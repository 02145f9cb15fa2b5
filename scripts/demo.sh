#!/usr/bin/env bash
# make demo: builds what is needed (toolchain, cached kernel, modules, tools)
# and runs tests/demo/demo.sh in the test guest.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$MOCKGPU_TOP"
scripts/deps.sh
kdir=$(scripts/kernel.sh debug)
KDIR=$kdir scripts/modules.sh
KDIR=$kdir scripts/guest-progs.sh
scripts/vm.sh --kdir "$kdir" --run tests/demo/demo.sh --out "$MOCKGPU_TOP/build/vm/demo"
