# shellcheck shell=bash
# Sourced by up.sh and down.sh: names and paths of region $1, and the pid of its dockerd.
# Needs TB and PREFIX set by the caller (they are read at call time).

nsname() { echo "${PREFIX}-region-$1"; }
hveth() { echo "${PREFIX}-r$1-h"; }
rdir() { echo "$TB/region-$1"; }

daemon_pid() { # prints pid of our dockerd for region $1, fails if not running
  local d pid cmd
  d=$(rdir "$1")
  [[ -s $d/dockerd.pid ]] || return 1
  pid=$(<"$d/dockerd.pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $cmd == *"--data-root $d/data "* ]] || return 1
  echo "$pid"
}
