#!/usr/bin/env bash
# demo.sh -- the article's walkthrough on one Linux host, no cloud: two regions (network
# namespaces, one dockerd each, labelled region=region-N), the built geoswarm-lb artifact with
# its REST API and a [state] file, two busybox httpd containers per region labelled
# service=region-N.nginx, one entry point per region registered through the LbServer provider's
# code path, then requests to region-1's entry point alternating between its two hosts.
# Ctrl-C (or SIGTERM) removes everything: entry points, balancer, containers, testbed.
set -euo pipefail

SCRIPT_NAME=$(basename "$0")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly SCRIPT_NAME ROOT
readonly TESTBED="$ROOT/scripts/testbed"

function print_usage {
  cat <<EOF
Usage: $SCRIPT_NAME [OPTIONS]

Runs the article's walkthrough locally (Linux, root): 2 regions in network namespaces, the
built balancer, 2 busybox httpd containers per region, one entry point per region registered
through the LbServer provider. Installs docker.io and busybox-static with apt-get if missing.

Options:
  --once            Tear down and exit right after the walkthrough (non-interactive, for CI).
  --requests N      Requests shown against region-1's entry point (default 6, 2..50).
  --timeout SECS    Tear down by itself after SECS seconds (default 86400).
  --help            Show this help.

Environment (defaults):
  DEMO_DIR          Work dir: balancer config, log, state, testbed  (/tmp/geoswarm-demo)
  TESTBED_PREFIX    Name prefix of namespaces and bridge            (gsd)
  TESTBED_NET       /24 of the testbed, without the last octet      (10.201.0)
  DEMO_API_PORT     Balancer API and dashboard port on the gateway  (8888)
  DEMO_ENTRY_PORT   Region N's entry point is this + N              (20000)

Example:
  sudo $SCRIPT_NAME            # Ctrl-C to tear down
  sudo $SCRIPT_NAME --once     # walkthrough, checks, teardown, exit
EOF
}

function log {
  local -r level=$1
  shift
  printf '%s [%s] [%s] %s\n' "$(date +%T.%3N)" "$level" "$SCRIPT_NAME" "$*" >&2
}
function log_info { log INFO "$@"; }
function log_warn { log WARN "$@"; }
function log_error { log ERROR "$@"; }
function die {
  log_error "$@"
  exit 1
}

# ---------------------------------------------------------------- arguments
ONCE=0
REQUESTS=6
TIMEOUT=86400
while (($#)); do
  case "$1" in
    --once) ONCE=1 ;;
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

DEMO_DIR=${DEMO_DIR:-/tmp/geoswarm-demo}
API_PORT=${DEMO_API_PORT:-8888}
ENTRY_PORT=${DEMO_ENTRY_PORT:-20000}
export TESTBED_PREFIX=${TESTBED_PREFIX:-gsd}
export TESTBED_NET=${TESTBED_NET:-10.201.0}
export TESTBED_DIR="$DEMO_DIR/testbed"
export TESTBED_SWARM=0
readonly REGIONS=2
readonly GW="$TESTBED_NET.1"
[[ $DEMO_DIR =~ ^/[A-Za-z0-9._/-]+$ && $DEMO_DIR != / ]] || die "DEMO_DIR must be an absolute path"
[[ $TESTBED_NET =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "TESTBED_NET must be like 10.201.0"
for p in API_PORT ENTRY_PORT; do
  if ! [[ ${!p} =~ ^[0-9]+$ ]] || ((${!p} < 1 || ${!p} > 65000)); then die "$p must be 1..65000"; fi
done

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

# ---------------------------------------------------------------- teardown
LB_PID=""
API_URL="http://$GW:$API_PORT"
API_USER="admin"
API_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=' | head -c 20)
REGISTER="$ROOT/scripts/demo/dist/register.cjs"
REGISTERED=()
CLEANED=0

function register {
  GEOSWARM_API_URL=$API_URL GEOSWARM_API_USER=$API_USER GEOSWARM_API_PASSWORD=$API_PASSWORD \
    node "$REGISTER" "$@"
}

function teardown {
  ((CLEANED)) && return 0
  CLEANED=1
  trap '' INT TERM
  log_info "tearing down"
  local name t
  if [[ -n $LB_PID ]] && kill -0 "$LB_PID" 2>/dev/null; then
    for name in "${REGISTERED[@]}"; do
      if register delete "$name"; then log_info "entry point $name deleted through the LbServer provider"; fi
    done
    kill -TERM "$LB_PID" 2>/dev/null || true
    for ((t = 0; t < 50; t++)); do kill -0 "$LB_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$LB_PID" 2>/dev/null; then
      log_warn "balancer $LB_PID still running 5 s after SIGTERM; SIGKILL"
      kill -KILL "$LB_PID" 2>/dev/null || true
    fi
    log_info "balancer stopped"
  fi
  "$TESTBED/down.sh" 2>&1 | sed 's/^/  /' >&2 || log_warn "down.sh failed; run it again: TESTBED_DIR=$TESTBED_DIR TESTBED_PREFIX=$TESTBED_PREFIX $TESTBED/down.sh"
  rm -f "$DEMO_DIR/lb.toml" "$DEMO_DIR/lb.log" "$DEMO_DIR/lb.out" "$DEMO_DIR/lb.pid" "$DEMO_DIR/state.json" "$DEMO_DIR/.demo.lock"
  rmdir "$DEMO_DIR" 2>/dev/null || log_warn "$DEMO_DIR not empty; left in place"
  log_info "teardown complete"
}
function on_exit {
  local rc=$?
  teardown
  exit "$rc"
}
trap on_exit EXIT
trap 'log_info "interrupted"; teardown; exit 0' INT TERM

# ---------------------------------------------------------------- build
log_info "building the balancer artifact (lb/dist/geoswarm-lb.cjs) and the provider CLI"
node "$ROOT/lb/build.mjs"
node "$ROOT/scripts/demo/build.mjs"

# ---------------------------------------------------------------- regions
log_info "starting $REGIONS regions ($TESTBED_PREFIX-region-N on $TESTBED_NET.0/24)"
TESTBED_FORMAT="env" "$TESTBED/up.sh" "$REGIONS" >/dev/null 8>&- # daemons must not hold the demo lock
# shellcheck disable=SC1091
source "$TESTBED_DIR/regions.env"

# ---------------------------------------------------------------- balancer
umask 077 # the config holds the API password
cat >"$DEMO_DIR/lb.toml" <<EOF
# geoswarm-lb for the demo: only the API; entry points are added through it.
[logging]
level = "info"
output = "$DEMO_DIR/lb.log"

[api]
enabled = true
bind = "$GW:$API_PORT"

[api.basic_auth]
login = "$API_USER"
password = "$API_PASSWORD"

[state]
path = "$DEMO_DIR/state.json"

[shutdown]
grace_period = "1s"
EOF
umask 022
log_info "starting the balancer: node lb/dist/geoswarm-lb.cjs -c $DEMO_DIR/lb.toml"
setsid node "$ROOT/lb/dist/geoswarm-lb.cjs" -c "$DEMO_DIR/lb.toml" -p "$DEMO_DIR/lb.pid" \
  </dev/null >>"$DEMO_DIR/lb.out" 2>&1 8>&- &
LB_PID=$!
for ((t = 0; t < 100; t++)); do
  curl -sf -m 1 "$API_URL/ping" >/dev/null 2>&1 && break
  kill -0 "$LB_PID" 2>/dev/null || { cat "$DEMO_DIR/lb.out" >&2; die "the balancer exited at start"; }
  sleep 0.1
done
curl -sf -m 1 "$API_URL/ping" >/dev/null || die "the balancer API did not answer on $API_URL in 10 s"
rm -f "$DEMO_DIR/lb.out"

# ---------------------------------------------------------------- containers
for ((i = 1; i <= REGIONS; i++)); do
  sock=REGION_${i}_DOCKER_SOCK
  for j in 1 2; do
    host="host$(((i - 1) * 2 + j))"
    docker -H "${!sock}" run -d --name "$host" --hostname "$host" \
      -l "service=region-$i.nginx" -p "2200$j:80" "$TESTBED_IMAGE" \
      sh -c 'hostname > /www/index.html; exec httpd -f -p 80 -h /www' >/dev/null
    ip=REGION_${i}_IP
    log_info "region-$i: container $host (label service=region-$i.nginx) published at ${!ip}:2200$j"
  done
done

# ---------------------------------------------------------------- entry points
for ((i = 1; i <= REGIONS; i++)); do
  name="r${i}nginx"
  ep=REGION_${i}_DOCKER_HOST
  server=$(
    cat <<EOF
{"bind": "$GW:$((ENTRY_PORT + i))", "protocol": "tcp", "balance": "roundrobin",
 "client_idle_timeout": "10m", "backend_idle_timeout": "10m", "backend_connection_timeout": "2s",
 "healthcheck": {"kind": "ping", "interval": "2s", "timeout": "1s", "fails": 2},
 "discovery": {"kind": "docker", "docker_endpoint": "${!ep}",
               "docker_container_label": "service=region-$i.nginx",
               "docker_container_private_port": 80}}
EOF
  )
  log_info "POST /servers/$name through the LbServer provider (docker discovery at ${!ep})"
  register create "$name" "$server" >/dev/null
  REGISTERED+=("$name")
done

# ---------------------------------------------------------------- the article's last step
R1="$GW:$((ENTRY_PORT + 1))"
seen=""
for ((t = 0; t < 50; t++)); do # both hosts discovered (bounded: 5 s)
  body=$(curl -s -m 1 "http://$R1/" 2>/dev/null || true)
  [[ -n $body && $seen != *"<$body>"* ]] && seen+="<$body>"
  [[ $seen == *"<host1>"* && $seen == *"<host2>"* ]] && break
  sleep 0.1
done
[[ $seen == *"<host1>"* && $seen == *"<host2>"* ]] || die "region-1's entry point did not reach both hosts in 5 s (saw: ${seen:-nothing})"

echo
echo "\$ for i in \$(seq $REQUESTS); do curl -s http://$R1/; done"
prev=""
alternating=1
for ((n = 1; n <= REQUESTS; n++)); do
  body=$(curl -s -m 2 "http://$R1/" || true)
  echo "${body:-(request failed)}"
  [[ -n $body && $body != "$prev" ]] || alternating=0
  prev=$body
done
echo
((alternating)) || die "answers did not alternate between host1 and host2"

cat <<EOF
Entry points (registered through the LbServer provider, docker discovery per region):
  r1nginx  tcp://$R1  -> region-1 (host1, host2), curl -s http://$R1/
  r2nginx  tcp://$GW:$((ENTRY_PORT + 2))  -> region-2 (host3, host4), curl -s http://$GW:$((ENTRY_PORT + 2))/
Dashboard:  $API_URL/dashboard   (user $API_USER, password $API_PASSWORD)
REST API:   curl -u $API_USER:$API_PASSWORD $API_URL/servers
Regions:    docker -H $REGION_1_DOCKER_HOST ps    docker -H $REGION_2_DOCKER_HOST ps
Balancer:   log $DEMO_DIR/lb.log, state $DEMO_DIR/state.json
EOF
echo

if ((ONCE)); then
  log_info "--once: walkthrough done"
  exit 0
fi
log_info "ready; press Ctrl-C to tear everything down (or wait $TIMEOUT s)"
deadline=$((SECONDS + TIMEOUT))
while ((SECONDS < deadline)); do
  kill -0 "$LB_PID" 2>/dev/null || die "the balancer exited; see $DEMO_DIR/lb.log"
  sleep 1 &
  wait $! || true # `wait` returns at once on a signal; a plain `sleep` would delay Ctrl-C
done
log_info "--timeout of $TIMEOUT s reached"
