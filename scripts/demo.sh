#!/usr/bin/env bash
# make demo: builds what is needed (toolchain, cached kernel, modules, tools)
# and runs tests/demo/demo.sh in the test guest.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$MOCKGPU_TOP"
kdir=$(guest_prep debug)
scripts/vm.sh --kdir "$kdir" --run tests/demo/demo.sh --out "$MOCKGPU_TOP/build/vm/demo"
