#!/usr/bin/env bash
# Installs, from Debian's packages, the tools that tests and benchmarks call, when missing:
#   scripts/ensure-tools.sh promtool systemd-analyze rclone curl rsync pv chromium
# A name ending in .pc is a library to compile against, checked with pkg-config:
#   scripts/ensure-tools.sh gcc pkg-config fusermount3 fuse3.pc
#   scripts/ensure-tools.sh initdb      (PostgreSQL's server, for the tests that start a cluster)
# Needs root (CI and these machines run as root). Prints nothing when all are present.
set -euo pipefail
declare -A PACKAGE=(
  [promtool]=prometheus
  [systemd-analyze]=systemd
  [rclone]=rclone
  [hyperfine]=hyperfine
  [script]=bsdutils
  [curl]=curl
  [rsync]=rsync
  [pv]=pv
  [vmstat]=procps
  [pk12util]=libnss3-tools
  [chromium]=chromium
  [gcc]=gcc
  [pkg-config]=pkg-config
  [fusermount3]=fuse3
  [fuse3.pc]=libfuse3-dev
  # The server's programs live under /usr/lib/postgresql/<version>/bin, off the PATH.
  [initdb]=postgresql
)
present() {
  if [[ $1 == initdb ]]; then
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
  elif [[ $1 == *.pc ]]; then
    command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "${1%.pc}"
  else
    command -v "$1" >/dev/null 2>&1
  fi
}
missing=()
for tool in "$@"; do
  present "$tool" && continue
  pkg=${PACKAGE[$tool]:-}
  [[ -n $pkg ]] || { echo "ensure-tools: no package known for $tool" >&2; exit 1; }
  missing+=("$pkg")
done
(( ${#missing[@]} == 0 )) && exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "ensure-tools: ${missing[*]} missing and not root; install them: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "ensure-tools: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Do not start services from packages we only want tools from (and leave no trace of that).
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for tool in "$@"; do present "$tool" || { echo "ensure-tools: $tool still missing" >&2; exit 1; }; done
