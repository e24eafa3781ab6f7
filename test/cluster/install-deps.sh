#!/usr/bin/env bash
# Installs the system packages the local cluster needs, from Debian's archive, when they are missing:
# redis-server (and redis-cli), openssl, curl, iproute2 (ss), procps (pgrep). Go must already be installed.
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v ss >/dev/null 2>&1 || need+=(iproute2)
command -v pgrep >/dev/null 2>&1 || need+=(procps)
command -v go >/dev/null 2>&1 || {
  echo "[deps] ERROR: the Go toolchain is needed to build the control plane (install Go >= 1.24)" >&2
  exit 1
}

if ((${#need[@]} == 0)); then
  echo "[deps] system packages present" >&2
  exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || {
    echo "[deps] ERROR: need root (or sudo) to apt-get install ${need[*]}" >&2
    exit 1
  }
  SUDO=sudo
fi
echo "[deps] installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The Debian package starts a system-wide redis on 6379; the cluster runs its own, so leave that one off.
if [[ " ${need[*]} " == *" redis-server "* ]]; then
  $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || $SUDO service redis-server stop >/dev/null 2>&1 || true
fi
