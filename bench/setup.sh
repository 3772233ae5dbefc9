#!/bin/sh
# Installs what the benchmark needs (Debian packages) and builds the balancer artifact.
set -eu
cd "$(dirname "$0")/.."
need=""
for t in haproxy nginx wrk iperf3 taskset; do command -v "$t" >/dev/null 2>&1 || need=1; done
[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || need=1
if [ -n "$need" ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq haproxy nginx libnginx-mod-stream wrk iperf3 util-linux
fi
scripts/install-node22.sh >/dev/null
npm run build:lb
