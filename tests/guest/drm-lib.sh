# Sourced by the DRM guest suites (M=/mockgpu/modules must be set).
#
# load NAME: insmod $M/NAME.ko (or with dashes) after the modules its
# .modinfo `depends=` names, each once.
load() {
  local f d
  grep -q "^$1 " /proc/modules && return 0
  f=$M/$1.ko
  [ -e "$f" ] || f=$M/$(echo "$1" | tr _ -).ko
  [ -e "$f" ] || { echo "# no module $1 in $M"; return 1; }
  for d in $(tr '\0' '\n' < "$f" | sed -n 's/^depends=//p' | tr , ' '); do
    load "$d" || return 1
  done
  insmod "$f" || { echo "# insmod $f failed"; return 1; }
}
# drm_node DRIVER KIND: the name of the first card or renderD node (KIND card
# or renderD) of DRM driver DRIVER, by the driver name DRM's debugfs has for
# the node's minor (/sys/class/drm's card*-<connector> entries are skipped).
drm_node() {
  for n in /sys/class/drm/$2*; do
    case ${n##*/$2} in '' | *[!0-9]*) continue ;; esac
    set -- "$1" "$2" $(cat /sys/kernel/debug/dri/$(cut -d: -f2 "$n/dev")/name 2>/dev/null)
    [ "${3:-}" = "$1" ] && { echo "${n##*/}"; return 0; }
  done
  return 1
}
