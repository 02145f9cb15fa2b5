# Sourced by the vgem suites: sets $card and $render to vgem's DRM minors
# (the nodes whose device is the vgem faux device), card0/renderD128 if none.
card="" render=""
for n in /sys/class/drm/card* /sys/class/drm/renderD*; do
  [ -e "$n/device" ] || continue
  [ "$(basename "$(readlink -f "$n/device")")" = vgem ] || continue
  case "${n##*/}" in
    card[0-9]*) [ -z "$card" ] && card=${n##*/} ;;
    renderD*) [ -z "$render" ] && render=${n##*/} ;;
  esac
done
card=${card:-card0} render=${render:-renderD128}
