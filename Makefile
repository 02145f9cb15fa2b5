# mockgpu: kernel-level GPU sharing for containers. See README.md.
#
#   make                 build mockgpu.ko and realgpu.ko (against KDIR, or the cached test kernel)
#   make demo            two containers sharing one (simulated) GPU at different limits
#   make check           host + guest tests; ends with "N passed, N failed"
#   make bench           overhead against direct, CUSE and LD_PRELOAD (non-debug kernel)
#   make bench ICOUNT=1  the same in guest instructions (QEMU -icount): no host noise
#   make stress          1,000,000 fuzzer calls and a 120 s stress run (debug kernel)
#   make vm-run RUN=script [FILES=dir]   run a script in the test guest (output: build/vm/run-<script>)
#   make deps            install the toolchain (Debian 12, root)
#   make kernel          build (or find) the cached debug test kernel
#   make clean           remove build output (not the cached kernel)
SHELL := /bin/bash
KDIR ?=
export KDIR

.PHONY: all modules deps kernel guest-progs check demo bench stress vm-run clean

all: modules

modules:
	@scripts/modules.sh

deps:
	@scripts/deps.sh

kernel: deps
	@scripts/kernel.sh debug

guest-progs:
	@scripts/guest-progs.sh

check:
	@scripts/check.sh

demo:
	@scripts/demo.sh

bench:
	@scripts/bench.sh

stress:
	@scripts/stress.sh

vm-run:
	@test -n "$(RUN)" || { echo "usage: make vm-run RUN=<script> [FILES=<dir>]"; exit 2; }
	@scripts/deps.sh
	@scripts/modules.sh
	@scripts/guest-progs.sh
	@scripts/vm.sh --run "$(RUN)" $(if $(FILES),--files "$(FILES)") --out "$(CURDIR)/build/vm/run-$(basename $(notdir $(RUN)))"

clean:
	rm -rf build userspace-tools/target
