#!/usr/bin/env bash
# Installs the programs the test suite drives, when they are missing:
# Chromium and Firefox ESR (browser tests); ip, tc and nft for the network
# namespaces of the constrained-link tests (loadtest.Lab); redis-server and
# redis-cli for the cluster tests (internal/redistest), haproxy to put a
# proxy before Redis.
# Run as root on Debian; elsewhere it only reports.
set -euo pipefail
missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
command -v chromium >/dev/null 2>&1 || [ -x /usr/lib/chromium/chromium ] || missing+=(chromium)
command -v firefox-esr >/dev/null 2>&1 || command -v firefox >/dev/null 2>&1 || missing+=(firefox-esr)
{ have ip && have tc; } || missing+=(iproute2)
have nft || missing+=(nftables)
have redis-server || missing+=(redis-server)
have redis-cli || missing+=(redis-tools)
have haproxy || missing+=(haproxy)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: missing ${missing[*]}; install them (Debian: apt-get install -y ${missing[*]})" >&2
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" fonts-liberation >/dev/null
