#!/bin/sh
# Install the benchmark's load generator (wrk) and anchor (nginx) from Debian, if missing.
# Run as root (or via sudo); `make bench` runs it before bench/sinkhole_vs_nginx.py.
set -eu

if command -v wrk >/dev/null 2>&1 && command -v nginx >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "bench/setup-debian.sh: wrk or nginx missing; run as root: sudo sh bench/setup-debian.sh" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
# nginx-light would do as well; the plain package is what most readers have.
apt-get install -y --no-install-recommends wrk nginx
# The benchmark starts its own nginx on a free loopback port; the packaged service is not needed.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
    systemctl stop nginx || true
fi
