#!/usr/bin/env bash
# up.sh [N]   -- simulate a geo-distributed Docker cluster on ONE machine.
#
# Starts N (default 2) independent dockerd "regions". Region i gets
#   * its own network namespace  ${PREFIX}-region-i  (veth "eth0", ip ${NET}.(10+i)/24),
#     plugged into bridge ${PREFIX}-br0 (${NET}.1/24) in the root namespace,
#   * its own dockerd (+ managed containerd), engine label  region=region-i,
#     API on  unix://$TESTBED_DIR/region-i/docker.sock  and  tcp://${NET}.(10+i):2375,
#   * hostname region-i (own UTS ns) and a private mount ns with a sysfs of its netns,
#   * container cgroups under /${PREFIX}-region-i (so down.sh can find leftovers),
#   * a locally built image $TESTBED_IMAGE (static busybox; no registry needed).
# Optional: TESTBED_SWARM=1 -> region-1 is swarm manager, the others join as workers.
# Optional: TESTBED_DOCKERD=0 -> namespaces, bridge and image tarball only: no dockerd is started
#   (scripts/rehearsal starts each machine's dockerd from the settings the program renders).
# Optional: TESTBED_ADDRS="33 34 ..." -> region i gets ${NET}.<i-th number> instead of 10+i.
#
# Idempotent: re-running converges to N healthy regions (restarts dead daemons,
# removes regions > N) and prints the description again.
# Output: JSON on stdout (TESTBED_FORMAT=env for KEY=VALUE lines); also written to
# $TESTBED_DIR/regions.json and $TESTBED_DIR/regions.env. Progress goes to stderr.
#
# Env: TESTBED_DIR (/tmp/testbed)  TESTBED_PREFIX (tb)  TESTBED_NET (10.200.0)
#      TESTBED_IMAGE (testbed/busybox:latest)  TESTBED_SWARM (0)  TESTBED_FORMAT (json)
#      TESTBED_LOG_LEVEL (warn)  TESTBED_BUSYBOX (/bin/busybox, must be static)
#      TESTBED_DOCKERD (1)  TESTBED_ADDRS (unset)
# Needs root, iproute2, util-linux (nsenter/unshare/flock/setsid), docker.io, curl,
# busybox-static, iptables.
set -euo pipefail

usage() { # the comment block at the top of this file
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}
if [[ ${1:-} == -h || ${1:-} == --help ]]; then usage; exit 0; fi
if (($# > 1)); then usage >&2; printf '[up] ERROR: expected at most one argument, N (got %d)\n' "$#" >&2; exit 2; fi

N=${1:-2}
TB=${TESTBED_DIR:-/tmp/testbed}
PREFIX=${TESTBED_PREFIX:-tb}
NET=${TESTBED_NET:-10.200.0}
IMAGE=${TESTBED_IMAGE:-testbed/busybox:latest}
SWARM=${TESTBED_SWARM:-0}
FORMAT=${TESTBED_FORMAT:-json}
LOGLEVEL=${TESTBED_LOG_LEVEL:-warn}
BUSYBOX=${TESTBED_BUSYBOX:-/bin/busybox}
DOCKERD=${TESTBED_DOCKERD:-1}
read -r -a ADDRS <<<"${TESTBED_ADDRS:-}"
API_PORT=2375
BR=${PREFIX}-br0
GW=${NET}.1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { printf '[up %s] %s\n' "$(date +%T.%3N)" "$*" >&2; }
die() { printf '[up] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- checks
if ! [[ $N =~ ^[0-9]+$ ]] || ((N < 1 || N > 50)); then die "N must be 1..50 (got '$N')"; fi
[[ $PREFIX =~ ^[a-z][a-z0-9]{0,5}$ ]] || die "TESTBED_PREFIX must match [a-z][a-z0-9]{0,5}"
[[ $NET =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "TESTBED_NET must be like 10.200.0"
[[ $TB =~ ^/[A-Za-z0-9._/-]+$ && $TB != / ]] || die "TESTBED_DIR must be an absolute path"
[[ $FORMAT == json || $FORMAT == env ]] || die "TESTBED_FORMAT must be json or env"
[[ $DOCKERD == 0 || $DOCKERD == 1 ]] || die "TESTBED_DOCKERD must be 0 or 1"
if ((${#ADDRS[@]})); then
  ((${#ADDRS[@]} >= N)) || die "TESTBED_ADDRS names ${#ADDRS[@]} addresses for $N regions"
  for a in "${ADDRS[@]}"; do
    if ! [[ $a =~ ^[0-9]+$ ]] || ((a < 2 || a > 254)); then die "TESTBED_ADDRS: '$a' is not a host number 2..254"; fi
  done
fi
[[ $(id -u) == 0 ]] || die "must run as root"
for c in ip nsenter unshare flock setsid mountpoint dockerd docker containerd curl iptables; do
  command -v "$c" >/dev/null 2>&1 || die "missing command: $c"
done
[[ -x $BUSYBOX ]] || die "$BUSYBOX not found (apt-get install busybox-static)"
case "$(ldd "$BUSYBOX" 2>&1 || true)" in
  *"not a dynamic executable"*) ;;
  *) die "$BUSYBOX is dynamically linked; install busybox-static or set TESTBED_BUSYBOX" ;;
esac

rip() { # region ip
  if ((${#ADDRS[@]})); then echo "${NET}.${ADDRS[$1 - 1]}"; else echo "${NET}.$((10 + $1))"; fi
}
# shellcheck source=lib.sh
source "$HERE/lib.sh"                      # nsname hveth rdir daemon_pid

mkdir -p "$TB"
if [[ -z ${TESTBED_LOCKED:-} ]]; then
  exec 9>"$TB/.lock"
  flock -w 300 9 || die "another up.sh/down.sh holds $TB/.lock"
  export TESTBED_LOCKED=1
fi

# ---------------------------------------------------------------- image rootfs
build_rootfs_tar() {
  local img=$TB/image tar=$TB/image/busybox-rootfs.tar
  [[ -s $tar ]] && return 0
  log "building busybox rootfs tarball"
  rm -rf "$img/rootfs"
  mkdir -p "$img/rootfs"/{bin,etc,www,tmp,root}
  chmod 1777 "$img/rootfs/tmp"
  cp "$BUSYBOX" "$img/rootfs/bin/busybox"
  local a
  for a in $("$BUSYBOX" --list); do
    [[ $a == busybox ]] || ln -sf busybox "$img/rootfs/bin/$a"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$img/rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$img/rootfs/etc/group"
  printf 'hosts: files dns\n' >"$img/rootfs/etc/nsswitch.conf"
  echo "hello from testbed" >"$img/rootfs/www/index.html"
  tar -C "$img/rootfs" --sort=name --owner=0 --group=0 --numeric-owner -cf "$tar.tmp" .
  mv "$tar.tmp" "$tar"
  rm -rf "$img/rootfs"
}

# ---------------------------------------------------------------- network
ensure_bridge() {
  local r
  r=$(ip -4 route show "${NET}.0/24" 2>/dev/null || true)
  if [[ -n $r && $r != *"dev $BR "* ]]; then die "${NET}.0/24 already routed elsewhere: $r"; fi
  ip link show "$BR" >/dev/null 2>&1 || ip link add "$BR" type bridge
  ip addr replace "$GW/24" dev "$BR"
  ip link set "$BR" up
  # br_netfilter is active and a dockerd in the root netns sets FORWARD policy DROP:
  # bridged netns<->netns frames (swarm 2377/7946/4789) would be dropped without this.
  iptables -C FORWARD -i "$BR" -o "$BR" -m comment --comment "testbed:$BR" -j ACCEPT 2>/dev/null ||
    iptables -I FORWARD 1 -i "$BR" -o "$BR" -m comment --comment "testbed:$BR" -j ACCEPT
}

ensure_netns() {
  local i=$1 ns hv
  ns=$(nsname "$i") hv=$(hveth "$i")
  [[ -e /run/netns/$ns ]] || ip netns add "$ns"
  if ! ip -n "$ns" link show eth0 >/dev/null 2>&1; then
    ip link del "$hv" >/dev/null 2>&1 || true
    ip link add "$hv" type veth peer name eth0 netns "$ns"
  fi
  ip link set "$hv" master "$BR" up
  ip -n "$ns" addr replace "$(rip "$i")/24" dev eth0
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
}

# ---------------------------------------------------------------- daemons
daemon_ok() { # running and answering on both sockets
  local i=$1
  daemon_pid "$i" >/dev/null || return 1
  curl -sf -m 3 --unix-socket "$(rdir "$i")/docker.sock" http://d/_ping >/dev/null 2>&1 || return 1
  curl -sf -m 3 "http://$(rip "$i"):$API_PORT/_ping" >/dev/null 2>&1 || return 1
}

# Runs inside: nsenter --net=<netns> unshare --mount --uts --propagation slave
#  - set the hostname (swarm node name / docker info Name)
#  - mount a sysfs that shows this netns' interfaces, but keep the cgroup mounts
#    (plain `ip netns exec` drops /sys/fs/cgroup -> "Devices cgroup isn't mounted")
# shellcheck disable=SC2016
WRAP='set -e
hostname "$1"; m=$2; shift 2
if mountpoint -q /sys/fs/cgroup; then mkdir -p "$m"; mount --rbind /sys/fs/cgroup "$m"; fi
mount -t sysfs sysfs /sys
if mountpoint -q "$m" 2>/dev/null; then mount --move "$m" /sys/fs/cgroup; fi
exec "$@"'

start_daemon() {
  local i=$1 d ns ip
  d=$(rdir "$i") ns=$(nsname "$i") ip=$(rip "$i")
  mkdir -p "$d"
  rm -f "$d/docker.sock" "$d/dockerd.pid"
  # own key.json -> distinct engine ID per daemon (default /etc/docker/key.json is shared).
  # Own containerd namespaces: if a system containerd ever listens on
  # /run/containerd/containerd.sock, dockerd 20.10 uses it instead of starting its own;
  # distinct namespaces keep the regions (and any other dockerd, ns "moby") apart.
  printf '{\n  "deprecated-key-path": "%s/key.json"\n}\n' "$d" >"$d/daemon.json"
  log "starting dockerd region-$i in netns $ns ($ip)"
  echo "---- $(date -Is) start" >>"$d/dockerd.log"
  # TMPDIR: the managed containerd inherits it; a SIGUSR1 stack dump (dockerd sends one
  # before it kills an unresponsive containerd) then lands in the region dir, not in /tmp
  mkdir -p "$d/tmp"
  TMPDIR="$d/tmp" DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 \
    setsid nsenter --net="/run/netns/$ns" -- \
    unshare --mount --uts --propagation slave -- \
    sh -c "$WRAP" wrap "region-$i" "$d/.cgroup-mnt" \
    dockerd \
    --config-file "$d/daemon.json" \
    --host "unix://$d/docker.sock" \
    --host "tcp://$ip:$API_PORT" --tls=false \
    --data-root "$d/data" \
    --exec-root "$d/exec" \
    --pidfile "$d/dockerd.pid" \
    --cgroup-parent "/${PREFIX}-region-$i" \
    --containerd-namespace "${PREFIX}-region-$i" \
    --containerd-plugins-namespace "${PREFIX}-region-$i-plugins" \
    --label "region=region-$i" \
    --log-level "$LOGLEVEL" \
    </dev/null >>"$d/dockerd.log" 2>&1 9>&- &
  # 9>&- : the daemon must not inherit the flock fd, or it would hold the lock forever
  BGPID[$i]=$! # nsenter/unshare/sh exec in turn, so normally this is dockerd's pid
}

wait_daemon() {
  local i=$1 d t=0
  d=$(rdir "$i")
  until daemon_ok "$i"; do
    sleep 0.1
    t=$((t + 1))
    # early exit: the launched process is gone and no live dockerd owns the pidfile
    if ((t > 600)) || { ((t > 20)) && [[ ! -d /proc/${BGPID[$i]:-0} ]] && ! daemon_pid "$i" >/dev/null; }; then
      tail -n 20 "$d/dockerd.log" >&2 || true
      die "dockerd region-$i exited or was not ready in 60s (log: $d/dockerd.log)"
    fi
  done
}

ensure_image() {
  local i=$1 D
  D=(docker -H "unix://$(rdir "$i")/docker.sock")
  "${D[@]}" image inspect "$IMAGE" >/dev/null 2>&1 && return 0
  "${D[@]}" import -c 'CMD ["/bin/sh"]' "$TB/image/busybox-rootfs.tar" "$IMAGE" >/dev/null
}

# ---------------------------------------------------------------- swarm
ensure_swarm() {
  local M st nid nodes token i W t
  M=(docker -H "unix://$(rdir 1)/docker.sock")
  st=$("${M[@]}" info --format '{{.Swarm.LocalNodeState}}')
  if [[ $st != active ]]; then
    [[ $st == inactive ]] || "${M[@]}" swarm leave --force >/dev/null 2>&1 || true
    log "swarm init on region-1"
    "${M[@]}" swarm init --advertise-addr "$(rip 1)" >/dev/null
  fi
  token=$("${M[@]}" swarm join-token -q worker)
  nodes=" $("${M[@]}" node ls -q | tr '\n' ' ') "
  for ((i = 2; i <= N; i++)); do
    W=(docker -H "unix://$(rdir "$i")/docker.sock")
    st=$("${W[@]}" info --format '{{.Swarm.LocalNodeState}}')
    nid=$("${W[@]}" info --format '{{.Swarm.NodeID}}')
    [[ $st == active && -n $nid && $nodes == *" $nid "* ]] && continue
    [[ $st == inactive ]] || "${W[@]}" swarm leave --force >/dev/null 2>&1 || true
    log "region-$i joins swarm"
    "${W[@]}" swarm join --advertise-addr "$(rip "$i")" --token "$token" "$(rip 1):2377" >/dev/null
  done
  # forget nodes of earlier incarnations (they show as Down)
  "${M[@]}" node ls --format '{{.ID}} {{.Status}}' | while read -r nid st; do
    if [[ $st == Down ]]; then "${M[@]}" node rm --force "$nid" >/dev/null 2>&1 || true; fi
  done
  for ((t = 0; t < 300; t++)); do
    [[ $("${M[@]}" node ls --filter role=worker --format '{{.Status}}' | grep -c '^Ready$' || true) -ge $((N - 1)) ]] && return 0
    sleep 0.1
  done
  die "swarm workers not Ready after 30s"
}

# ---------------------------------------------------------------- main
T0=$(date +%s%N)
build_rootfs_tar
ensure_bridge

# regions above N left from an earlier run -> remove them
extra=()
for p in "$TB"/region-*; do
  [[ -d $p ]] || continue
  j=${p##*/region-}
  [[ $j =~ ^[0-9]+$ ]] && ((j > N)) && extra+=("region-$j")
done
for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
  [[ $ns =~ ^${PREFIX}-region-([0-9]+)$ ]] || continue
  j=${BASH_REMATCH[1]}
  ((j > N)) && [[ " ${extra[*]-} " != *" region-$j "* ]] && extra+=("region-$j")
done
if ((${#extra[@]})); then
  log "removing regions beyond $N: ${extra[*]}"
  "$HERE/down.sh" "${extra[@]}" >&2
fi

started=()
declare -A BGPID=()
for ((i = 1; i <= N; i++)); do
  ensure_netns "$i"
  ((DOCKERD)) || continue
  if ! daemon_ok "$i"; then
    if pid=$(daemon_pid "$i"); then # alive but not answering: give it a moment, then restart
      sleep 3
      if ! daemon_ok "$i"; then
        log "region-$i dockerd (pid $pid) not answering; restarting"
        kill -TERM "$pid" 2>/dev/null || true
        for ((t = 0; t < 200; t++)); do [[ -d /proc/$pid && $(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null) != Z ]] || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        start_daemon "$i"
        started+=("$i")
      fi
    else
      start_daemon "$i"
      started+=("$i")
    fi
  fi
done
for i in "${started[@]}"; do wait_daemon "$i"; done
if ((DOCKERD)); then
  for ((i = 1; i <= N; i++)); do ensure_image "$i"; done
  if [[ $SWARM == 1 ]]; then ensure_swarm; fi
fi
log "ready: $N region(s) in $((($(date +%s%N) - T0) / 1000000)) ms (started ${#started[@]})"

# ---------------------------------------------------------------- describe
# report the swarm if region-1 is a manager (also when formed by an earlier TESTBED_SWARM=1 run)
mgr=""
if ((DOCKERD)); then
  mgr=$(docker -H "unix://$(rdir 1)/docker.sock" info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null || true)
fi
json="{\n  \"testbed_dir\": \"$TB\",\n  \"bridge\": \"$BR\",\n  \"gateway\": \"$GW\",\n  \"image\": \"$IMAGE\",\n"
env="TESTBED_DIR=$TB\nTESTBED_BRIDGE=$BR\nTESTBED_GATEWAY=$GW\nTESTBED_IMAGE=$IMAGE\nTESTBED_N=$N\n"
if [[ $mgr == true ]]; then
  json+="  \"swarm\": {\"manager\": \"region-1\", \"manager_host\": \"tcp://$(rip 1):$API_PORT\", \"join_addr\": \"$(rip 1):2377\"},\n"
  env+="TESTBED_SWARM_MANAGER_HOST=tcp://$(rip 1):$API_PORT\n"
else
  json+="  \"swarm\": null,\n"
fi
json+="  \"regions\": ["
names=()
for ((i = 1; i <= N; i++)); do
  ip=$(rip "$i") d=$(rdir "$i") pid=$(daemon_pid "$i" || echo null)
  names+=("region-$i")
  ((i > 1)) && json+=","
  json+="\n    {\"name\": \"region-$i\", \"label\": \"region=region-$i\", \"ip\": \"$ip\", \"netns\": \"$(nsname "$i")\", \"docker_host\": \"tcp://$ip:$API_PORT\", \"docker_sock\": \"unix://$d/docker.sock\", \"pid\": $pid}"
  env+="REGION_${i}_NAME=region-$i\nREGION_${i}_IP=$ip\nREGION_${i}_NETNS=$(nsname "$i")\nREGION_${i}_DOCKER_HOST=tcp://$ip:$API_PORT\nREGION_${i}_DOCKER_SOCK=unix://$d/docker.sock\nREGION_${i}_PID=$pid\n"
done
json+="\n  ]\n}\n"
env+="TESTBED_REGIONS=\"${names[*]}\"\n"
printf '%b' "$json" >"$TB/regions.json"
printf '%b' "$env" >"$TB/regions.env"
if [[ $FORMAT == env ]]; then cat "$TB/regions.env"; else cat "$TB/regions.json"; fi
