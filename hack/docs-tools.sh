#!/usr/bin/env bash
# docs-tools.sh — installs, when missing, the Debian packages whose commands
# the documentation names, so test/docs can check each documented command
# against them (subcommands and flags exist, per their --help): azure-cli
# (az) and skopeo. Run by `make test`; needs root to install (CI runs as
# root). Without root a missing tool is reported and its commands' checks
# are skipped by the test, saying so.
set -euo pipefail

# One installer at a time (.ci/run installs ahead while the steps run): the
# second waits, then finds the packages there.
if [ "$(id -u)" -eq 0 ]; then exec {lock}>/tmp/latchkey-packages.lock; flock "$lock"; fi

need=()
command -v az >/dev/null || need+=(azure-cli)
command -v skopeo >/dev/null || need+=(skopeo)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "docs-tools: ${need[*]} missing and not root: test/docs skips the commands they check (install them, or run as root)" >&2
  exit 0
fi
echo "docs-tools: installing ${need[*]} (test/docs checks the documented commands against them)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}
