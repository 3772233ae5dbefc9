#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian 12 machine that has npm (and any
# Node.js, e.g. 20): the Debian tools the tests run for real, the project's pinned Node.js 22 in
# .cache/node22 (scripts/install-node22.sh), then the npm packages from the lockfile, installed
# under that Node 22 (the lockfile's @pulumi/pulumi needs Node >= 22).
# Usage: scripts/setup.sh            (as root, or with sudo available)
set -euo pipefail

# Debian packages used by tests as real validators / peers. Keep one per line, with the reason.
APT_PACKAGES=(
  chromium     # headless browser for the dashboard test (driven by playwright-core)
  openssl      # makes a throw-away certificate for the API's TLS test (and the discovery TLS tests)
  cloud-init   # `cloud-init schema` validates rendered user data (test/components/render); brings python3-yaml
  shellcheck   # lints every shell script the components put on hosts
  systemd      # `systemd-analyze verify` checks rendered unit files
  dnsmasq-base # real DNS server with SRV records for srv discovery tests (binary only, no service)
  docker.io    # real dockerd for docker discovery tests and scripts/testbed (started per test)
  busybox-static # static busybox rootfs imported as the test image (Docker Hub is unreachable)
  iproute2     # network namespaces, veths and bridges of scripts/testbed
  iptables     # dockerd's port publishing; the testbed's FORWARD rule
  curl         # testbed readiness checks; e2e clients inside region namespaces; npm run demo
  jq           # scripts/testbed/README.md's examples read Docker's JSON with it
  bind9-dnsutils # dig: the README's UDP walkthrough (run as written by test/docs)
  gnupg        # gpg checks the fingerprint of the HashiCorp apt key the Consul step embeds
  gcc          # npm run build:lb compiles the native data-path addon (lb/native); without it, JS
  libc6-dev    # the C library headers that build needs
)

log() { printf '[setup] %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root (or sudo) to run: $*"; exit 1; fi
}

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  log "Debian packages already present"
fi

cd "$(dirname "$0")/.."
node22=$(scripts/install-node22.sh) # an assignment, so that a failure stops the script (set -e)
log "Node.js 22 (npm test, npm run lb, scripts/with-node22.sh): $node22"
log "installing npm packages from package-lock.json (under Node 22)"
scripts/with-node22.sh npm ci --no-audit --no-fund
log "done"
