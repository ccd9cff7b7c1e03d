#!/usr/bin/env bash
# node-packages.sh — installs the Debian packages a real e2e node needs, when
# missing: containerd and runc run the pods, containernetworking-plugins gives
# the bridge/host-local/loopback CNI plugins, iptables is what kube-proxy and
# the portmap plugin program, ipset what kube-router's network policy
# controller (the e2e's NetworkPolicy enforcer) programs beside iptables. Needs root (CI and `make test-e2e` run as root).
# With --ask (make dev NODE=1) it asks before installing anything, and
# without a terminal to ask on it says what to run instead.
set -euo pipefail
ask=false
[ "${1:-}" = "--ask" ] && ask=true

# One installer at a time (.ci/run installs ahead while the steps run): the
# second waits, then finds the packages there.
if [ "$(id -u)" -eq 0 ]; then exec {lock}>/tmp/latchkey-packages.lock; flock "$lock"; fi

need=()
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
command -v iptables >/dev/null || need+=(iptables)
command -v ipset >/dev/null || need+=(ipset)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "node-packages: ${need[*]} missing and not root; run as root or install them" >&2
  exit 1
fi
if $ask; then
  if [ ! -t 0 ]; then
    echo "node-packages: a real node needs ${need[*]}; run \`make node-packages\` (installs them with apt-get) first" >&2
    exit 1
  fi
  read -r -p "A real node needs the Debian packages ${need[*]}. Install them with apt-get now? [y/N] " answer
  case "$answer" in
    y|Y|yes|YES) ;;
    *) echo "node-packages: nothing installed" >&2; exit 1 ;;
  esac
fi
echo "node-packages: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
