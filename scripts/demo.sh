#!/usr/bin/env bash
# demo.sh -- the rehearsal of the article's walkthrough on one Linux host, no cloud: the program
# itself (index.ts, one Cluster) runs under mocks that compute real keys, certificates and
# passwords and act on a local testbed (scripts/rehearsal): every machine of a local two-region
# stack boots from its rendered user data in its own network namespace, the remote commands run
# their rendered scripts there (engine TLS, swarm init and join, the balancer's install), the
# entry points are registered through the LbServer provider, and the planned security groups
# filter every namespace. Then two httpd containers per region through the manager, and requests
# from region 1's client alternating between its two hosts.
# Ctrl-C (or SIGTERM) removes everything: services, balancer, engines, namespaces, files.
set -euo pipefail

SCRIPT_NAME=$(basename "$0")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly SCRIPT_NAME ROOT
readonly TESTBED="$ROOT/scripts/testbed"

function print_usage {
  cat <<EOF
Usage: $SCRIPT_NAME [OPTIONS]

Rehearses the local stack (Linux, root): the program under acting mocks on network namespaces
(2 regions: a Consul server, the balancer, a swarm-mode manager and 2 hosts in region 1, 2 hosts
in region 2), the planned firewall, 2 busybox httpd containers per region, and requests from
region 1's clients alternating between its two hosts.
Installs docker.io, busybox-static, jq and openssl with apt-get if missing.

Options:
  --once            Tear down and exit right after the walkthrough (non-interactive, for CI).
  --labels          Also deploy with entry points from container labels (geoswarm:balancer.labels)
                    and serve region 1 again from a labelled service alone (port 20001).
  --requests N      Requests shown against region-1's entry point (default 6, 2..50).
  --timeout SECS    Tear down by itself after SECS seconds (default 86400).
  --help            Show this help.

Environment (defaults):
  DEMO_DIR          Work dir: the testbed, the machines' files and logs  (/tmp/geoswarm-demo)
  TESTBED_PREFIX    Name prefix of namespaces and bridge                 (gsd)
  TESTBED_NET       /24 of the testbed, without the last octet           (10.201.0)

Example:
  sudo $SCRIPT_NAME            # Ctrl-C to tear down
  sudo $SCRIPT_NAME --once     # walkthrough, checks, teardown, exit
  sudo $SCRIPT_NAME --once --labels   # the same, then the entry point from labels alone
EOF
}

function log {
  local -r level=$1
  shift
  printf '%s [%s] [%s] %s\n' "$(date +%T.%3N)" "$level" "$SCRIPT_NAME" "$*" >&2
}
function log_info { log INFO "$@"; }
# shellcheck disable=SC2317 # used from the EXIT trap
function log_warn { log WARN "$@"; }
function log_error { log ERROR "$@"; }
function die {
  log_error "$@"
  exit 1
}

# ---------------------------------------------------------------- arguments
ONCE=0
LABELS=0
REQUESTS=6
TIMEOUT=86400
while (($#)); do
  case "$1" in
    --once) ONCE=1 ;;
    --labels) LABELS=1 ;;
    --requests)
      [[ $# -ge 2 ]] || { log_error "--requests needs a value"; print_usage >&2; exit 2; }
      REQUESTS=$2
      shift
      ;;
    --timeout)
      [[ $# -ge 2 ]] || { log_error "--timeout needs a value"; print_usage >&2; exit 2; }
      TIMEOUT=$2
      shift
      ;;
    --help | -h)
      print_usage
      exit 0
      ;;
    *)
      log_error "unrecognized argument: $1"
      print_usage >&2
      exit 2
      ;;
  esac
  shift
done
if ! [[ $REQUESTS =~ ^[0-9]+$ ]] || ((REQUESTS < 2 || REQUESTS > 50)); then
  log_error "--requests must be 2..50 (got '$REQUESTS')"
  exit 2
fi
if ! [[ $TIMEOUT =~ ^[0-9]+$ ]] || ((TIMEOUT < 1)); then
  log_error "--timeout must be a positive number of seconds (got '$TIMEOUT')"
  exit 2
fi

DEMO_T0=$(date +%s%3N)
DEMO_DIR=${DEMO_DIR:-/tmp/geoswarm-demo}
export TESTBED_PREFIX=${TESTBED_PREFIX:-gsd}
export TESTBED_NET=${TESTBED_NET:-10.201.0}
export TESTBED_DIR="$DEMO_DIR/testbed"
[[ $DEMO_DIR =~ ^/[A-Za-z0-9._/-]+$ && $DEMO_DIR != / ]] || die "DEMO_DIR must be an absolute path"
[[ $TESTBED_NET =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "TESTBED_NET must be like 10.201.0"
[[ $TESTBED_PREFIX =~ ^[a-z][a-z0-9]{0,5}$ ]] || die "TESTBED_PREFIX must match [a-z][a-z0-9]{0,5}"

# ---------------------------------------------------------------- prerequisites
[[ $(uname -s) == Linux ]] || die "needs Linux (network namespaces)"
[[ $(id -u) == 0 ]] || die "must run as root (network namespaces, dockerd): sudo $0"
command -v node >/dev/null || die "node not found (Node.js 20 or later)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
  die "Node.js 20 or later needed (found $(node --version))"
[[ -d $ROOT/node_modules/esbuild ]] || die "npm packages missing: run 'npm ci' in $ROOT"

function static_busybox {
  [[ -x /bin/busybox ]] && [[ $(ldd /bin/busybox 2>&1 || true) == *"not a dynamic executable"* ]]
}
function install_packages {
  local -a missing=()
  command -v dockerd >/dev/null && command -v containerd >/dev/null || missing+=(docker.io)
  static_busybox || missing+=(busybox-static)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v curl >/dev/null || missing+=(curl)
  command -v jq >/dev/null || missing+=(jq)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v docker >/dev/null || missing+=(docker.io)
  ((${#missing[@]})) || return 0
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
  log_info "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  static_busybox || die "/bin/busybox is still not a static binary after installing busybox-static"
}
install_packages

mkdir -p "$DEMO_DIR"
exec 8>"$DEMO_DIR/.demo.lock"
flock -n 8 || die "another demo is running with DEMO_DIR=$DEMO_DIR"

# ---------------------------------------------------------------- teardown (fallback)
# The rehearsal tears itself down (also on Ctrl-C); this only catches a rehearsal that died.
PID=""
# shellcheck disable=SC2317 # runs from the EXIT trap
function on_exit {
  local rc=$?
  if [[ -n $PID ]] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  if [[ -d $TESTBED_DIR ]]; then
    log_warn "the rehearsal left its testbed; removing it with down.sh"
    "$TESTBED/down.sh" 2>&1 | sed 's/^/  /' >&2 || log_warn "down.sh failed; run it again: TESTBED_DIR=$TESTBED_DIR TESTBED_PREFIX=$TESTBED_PREFIX $TESTBED/down.sh"
    rm -rf "$TESTBED_DIR"
  fi
  rm -f "$DEMO_DIR/.demo.lock" "$DEMO_DIR/api-ca.pem"
  rmdir "$DEMO_DIR" 2>/dev/null || true
  exit "$rc"
}
trap on_exit EXIT
# Ctrl-C reaches the rehearsal too (same process group), which tears down; SIGTERM is passed on.
trap 'log_info "interrupted; waiting for the rehearsal to tear down"' INT
trap 'if [[ -n $PID ]]; then kill -TERM "$PID" 2>/dev/null || true; fi' TERM

# ---------------------------------------------------------------- build
log_info "building the balancer artifact (lb/dist/geoswarm-lb.cjs) and the rehearsal (scripts/rehearsal/dist/demo.cjs)"
node "$ROOT/lb/build.mjs"
node "$ROOT/scripts/rehearsal/build.mjs"

# ---------------------------------------------------------------- the rehearsal
args=(--requests "$REQUESTS" --timeout "$TIMEOUT")
if ((ONCE)); then args+=(--once); fi
if ((LABELS)); then args+=(--labels); fi
DEMO_T0=$DEMO_T0 DEMO_DIR=$DEMO_DIR node "$ROOT/scripts/rehearsal/dist/demo.cjs" "${args[@]}" 8>&- &
PID=$!
rc=0
while kill -0 "$PID" 2>/dev/null; do
  # `wait` returns early when a trapped signal arrives; the loop then waits again.
  if wait "$PID"; then rc=0; else rc=$?; fi
done
PID=""
exit "$rc"
