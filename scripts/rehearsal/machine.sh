#!/usr/bin/env bash
# machine.sh -- one rehearsal machine: a testbed network namespace plus its own mount and UTS
# namespaces, in which the files and commands the program renders land at their real paths.
#
#   machine.sh holder DIR NAME          (run inside the netns, new mount+uts ns) set up, then sleep
#   machine.sh dockerd-start|dockerd-stop|dockerd-restart
#   machine.sh unit-start|unit-stop|unit-restart|unit-reload|unit-active UNIT
#
# Every subcommand but `holder` runs inside the machine (nsenter into the holder) with
# RH_DIR (machine dir = the testbed region dir) and RH_CG (the testbed's cgroup/containerd name).
#
# The machine's filesystem: /etc, /opt, /var/lib, /usr/local and /home are overlays whose upper
# layers are $RH_DIR/root/<path> (the host's files stay untouched; the machine's writes land
# there), /run is $RH_DIR/root/run (empty: its own docker.sock, pid and lock files).
set -euo pipefail

die() { printf '[machine %s] ERROR: %s\n' "${RH_NAME:-?}" "$*" >&2; exit 1; }
OVERLAYS=(/etc /opt /var/lib /usr/local /home)

holder() {
  local d=$1 name=$2 p m
  hostname "$name"
  # as scripts/testbed/up.sh: a sysfs of this netns, the cgroup mounts kept
  m=$d/.cgroup-mnt
  if mountpoint -q /sys/fs/cgroup; then mkdir -p "$m"; mount --rbind /sys/fs/cgroup "$m"; fi
  mount -t sysfs sysfs /sys
  if mountpoint -q "$m" 2>/dev/null; then mount --move "$m" /sys/fs/cgroup; fi
  for p in "${OVERLAYS[@]}"; do
    mkdir -p "$d/root$p" "$d/work$p"
    mount -t overlay overlay -o "lowerdir=$p,upperdir=$d/root$p,workdir=$d/work$p" "$p"
  done
  mkdir -p "$d/root/run" "$d/tmp" "$d/units"
  mount --bind "$d/root/run" /run
  touch "$d/holder.ready"
  exec sleep infinity
}

# ------------------------------------------------------------------ docker.service
dockerd_pid() {
  local pid
  [[ -s $RH_DIR/dockerd.pid ]] || return 1
  pid=$(<"$RH_DIR/dockerd.pid")
  [[ -d /proc/$pid ]] && grep -q -- "--data-root" "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

dockerd_start() {
  local t envs=() line
  dockerd_pid >/dev/null && return 0
  # The drop-in's Environment= lines (ExecStart's --containerd is not honoured: the testbed has
  # no system containerd, dockerd runs its own).
  for f in /etc/systemd/system/docker.service.d/*.conf; do
    [[ -f $f ]] || continue
    while IFS= read -r line; do envs+=("${line#Environment=}"); done < <(grep '^Environment=' "$f" || true)
  done
  echo "---- $(date -Is) start" >>"$RH_DIR/dockerd.log"
  # The testbed's own flags only (none is a daemon.json key, so the file's hosts, TLS and labels
  # apply as rendered); --data-root etc. are what scripts/testbed/down.sh looks for.
  env ${envs[@]+"${envs[@]}"} TMPDIR="$RH_DIR/tmp" DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 \
    setsid dockerd --config-file /etc/docker/daemon.json \
    --data-root "$RH_DIR/data" --exec-root "$RH_DIR/exec" --pidfile "$RH_DIR/dockerd.pid" \
    --cgroup-parent "/$RH_CG" --containerd-namespace "$RH_CG" \
    --containerd-plugins-namespace "$RH_CG-plugins" --log-level warn \
    </dev/null >>"$RH_DIR/dockerd.log" 2>&1 &
  for ((t = 0; t < 600; t++)); do
    if curl -sf -m 2 --unix-socket /run/docker.sock http://d/_ping >/dev/null 2>&1; then
      ln -sfn root/run/docker.sock "$RH_DIR/docker.sock" # where scripts/testbed/down.sh looks
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 "$RH_DIR/dockerd.log" >&2
  die "dockerd did not answer on /run/docker.sock within 60 s"
}

dockerd_stop() {
  local pid t
  pid=$(dockerd_pid) || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((t = 0; t < 300; t++)); do [[ -d /proc/$pid ]] || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# ------------------------------------------------------------------ other units (geoswarm-lb)
unit_file() { echo "/etc/systemd/system/$1"; }
unit_val() { sed -n "s/^$2=//p" "$(unit_file "$1")" | tail -n 1; }
unit_pid() {
  local pid
  [[ -s $RH_DIR/units/$1.pid ]] || return 1
  pid=$(<"$RH_DIR/units/$1.pid")
  [[ -d /proc/$pid && $(cut -d' ' -f3 "/proc/$pid/stat") != Z ]] && echo "$pid"
}

# Emulated directives: User, Group, ExecStart, ExecReload, LimitNOFILE, NoNewPrivileges,
# PrivateTmp, ProtectHome, StateDirectory. Not emulated: ProtectSystem, Restart/RestartSec,
# AmbientCapabilities, Wants/After (see scripts/rehearsal/README.md).
unit_start() {
  local unit=$1 f user group exec_start state nofile nnp=() setup=""
  f=$(unit_file "$unit")
  [[ -f $f ]] || die "unit $unit is not installed ($f)"
  unit_pid "$unit" >/dev/null && return 0
  user=$(unit_val "$unit" User) group=$(unit_val "$unit" Group)
  exec_start=$(unit_val "$unit" ExecStart) state=$(unit_val "$unit" StateDirectory)
  nofile=$(unit_val "$unit" LimitNOFILE)
  [[ -n $user && -n $exec_start ]] || die "unit $unit: User= and ExecStart= expected"
  if [[ -n $state ]]; then install -d -m 0755 -o "$user" -g "${group:-$user}" "/var/lib/$state"; fi
  [[ $(unit_val "$unit" NoNewPrivileges) == yes ]] && nnp=(--no-new-privs)
  [[ $(unit_val "$unit" PrivateTmp) == yes ]] && setup+='mount -t tmpfs -o mode=1777 tmpfs /tmp; '
  # shellcheck disable=SC2016 # expanded by the unit's shell
  [[ $(unit_val "$unit" ProtectHome) == yes ]] &&
    setup+='for h in /home /root; do mount -t tmpfs -o ro,mode=0755 tmpfs "$h"; done; '
  [[ -n $nofile ]] && setup+="ulimit -n $nofile 2>/dev/null || true; "
  echo "---- $(date -Is) start" >>"$RH_DIR/units/$unit.log"
  # shellcheck disable=SC2086 # ExecStart is split into words, as systemd does
  setsid unshare --mount --propagation private -- sh -c "${setup}exec \"\$@\"" unit \
    setpriv --reuid="$user" --regid="${group:-$user}" --init-groups ${nnp[@]+"${nnp[@]}"} -- $exec_start \
    </dev/null >>"$RH_DIR/units/$unit.log" 2>&1 &
  echo $! >"$RH_DIR/units/$unit.pid"
}

unit_stop() {
  local pid t
  pid=$(unit_pid "$1") || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((t = 0; t < 300; t++)); do [[ -d /proc/$pid ]] || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

unit_reload() {
  local pid cmd
  pid=$(unit_pid "$1") || die "unit $1 is not active"
  cmd=$(unit_val "$1" ExecReload)
  [[ -n $cmd ]] || die "unit $1 has no ExecReload="
  # shellcheck disable=SC2086
  eval ${cmd//\$MAINPID/$pid}
}

cmd=${1:-}
shift || true
case "$cmd" in
  holder) holder "$@" ;;
  dockerd-start) dockerd_start ;;
  dockerd-stop) dockerd_stop ;;
  dockerd-restart) dockerd_stop; dockerd_start ;;
  unit-start) unit_start "$1" ;;
  unit-stop) unit_stop "$1" ;;
  unit-restart) unit_stop "$1"; unit_start "$1" ;;
  unit-reload) unit_reload "$1" ;;
  unit-active) unit_pid "$1" >/dev/null ;;
  *) die "unknown subcommand '$cmd'" ;;
esac
