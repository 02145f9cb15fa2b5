#!/usr/bin/env bash
# Installs the toolchain mockgpu needs on a Debian 12 (bookworm) machine, idempotently.
# On a machine where it cannot install (not Debian, not root), it lists what is missing.
#
#   scripts/deps.sh          install what is missing
#   scripts/deps.sh --check  only report; exit 1 if anything is missing
set -euo pipefail

check_only=0
[ "${1:-}" = "--check" ] && check_only=1

say() { printf '[deps] %s\n' "$*" >&2; }

# Debian package -> a file that proves it is installed.
declare -A PKG_FILE=(
  [rustc-web]=/usr/bin/rustc
  [rust-web-src]=/usr/lib/rustlib/src/rust/library/core/src/lib.rs
  [clang-19]=/usr/bin/clang-19
  [lld-19]=/usr/bin/ld.lld-19
  [llvm-19]=/usr/bin/llvm-ar-19
  [libclang-19-dev]=/usr/lib/llvm-19/lib/libclang.so
  [flex]=/usr/bin/flex
  [bison]=/usr/bin/bison
  [bc]=/usr/bin/bc
  [libelf-dev]=/usr/include/libelf.h
  [libssl-dev]=/usr/include/openssl/ssl.h
  [cpio]=/usr/bin/cpio
  [kmod]=/usr/bin/kmod
  [xz-utils]=/usr/bin/xz
  [busybox-static]=/bin/busybox
  [libfuse3-dev]=/usr/include/fuse3/fuse.h
  # An OCI runtime for the guest's container test (tests/guest/crun.sh);
  # scripts/vm.sh copies it and its shared libraries into the initramfs.
  [crun]=/usr/bin/crun
  # podman reading mockgpu's CDI spec in the guest (tests/guest/podman.sh):
  # podman pulls in conmon and containers-common (its default containers.conf
  # and seccomp profile); scripts/vm.sh copies them into the initramfs.
  [podman]=/usr/bin/podman
  [conmon]=/usr/bin/conmon
  [golang-github-containers-common]=/usr/share/containers/containers.conf
  # `make check` builds mockgpu through DKMS (scripts/dkms-check.sh).
  [dkms]=/usr/sbin/dkms
  # GPU discovery through a proxy (tests/guest/discovery.sh): Debian's
  # drmdevice, and libdrm to link tests/discover/drm_discover.c against;
  # scripts/vm.sh copies both, with their shared libraries, into the guest.
  [libdrm-tests]=/usr/bin/drmdevice
  [libdrm-dev]=/usr/include/xf86drm.h
  [pkgconf]=/usr/bin/pkg-config
)
BACKPORTS_TRIXIE=(linux-source-7.3)
QEMU_PKGS=(qemu-system-x86 qemu-system-common qemu-system-data seabios)

missing=()
for p in "${!PKG_FILE[@]}"; do
  [ -e "${PKG_FILE[$p]}" ] || missing+=("$p")
done
ls /usr/src/linux-source-7.3.tar.* >/dev/null 2>&1 || missing+=(linux-source-7.3/trixie-backports)
command -v qemu-system-x86_64 >/dev/null || missing+=("${QEMU_PKGS[@]/%//bookworm-backports}")
BINDGEN="${CARGO_HOME:-$HOME/.cargo}/bin/bindgen"
have_bindgen=1
[ -x "$BINDGEN" ] || have_bindgen=0
command -v cargo >/dev/null || { say "cargo (rustup) is missing: install rustup's stable toolchain first"; exit 1; }

if [ ${#missing[@]} -eq 0 ] && [ $have_bindgen = 1 ]; then
  say "all dependencies present"
  exit 0
fi

if [ $check_only = 1 ] || [ "$(id -u)" != 0 ] || ! grep -q 'bookworm' /etc/os-release 2>/dev/null; then
  say "missing:"
  for m in "${missing[@]}"; do say "  debian package $m"; done
  [ $have_bindgen = 1 ] || say "  bindgen (cargo install --locked bindgen-cli)"
  [ $check_only = 1 ] || say "cannot install here (needs root on Debian 12 bookworm); install the above by hand"
  exit 1
fi

start=$(date +%s)
if [ ${#missing[@]} -gt 0 ]; then
  added=0
  if ! grep -rqs 'trixie-backports' /etc/apt/sources.list.d/; then
    say "adding apt source trixie-backports (for linux-source-7.3 only)"
    cat > /etc/apt/sources.list.d/mockgpu-trixie-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    # Never take anything else from trixie: its libc would replace the machine's.
    cat > /etc/apt/preferences.d/mockgpu-trixie <<'PIN'
Package: *
Pin: release n=trixie-backports
Pin-Priority: 100
PIN
    added=1
  fi
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list.d/ /etc/apt/sources.list; then
    say "adding apt source bookworm-backports (for qemu-system-x86 10)"
    cat > /etc/apt/sources.list.d/mockgpu-bookworm-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    added=1
  fi
  say "apt-get update"
  apt-get update -qq >/dev/null
  say "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ $have_bindgen = 0 ]; then
  say "installing bindgen-cli from crates.io (about 2 minutes)"
  LIBCLANG_PATH=/usr/lib/llvm-19/lib cargo install --locked --quiet bindgen-cli
fi
say "done in $(( $(date +%s) - start )) s"
