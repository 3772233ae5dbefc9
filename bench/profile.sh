#!/bin/sh
# CPU profile of geoswarm-lb under one kind of load (pinned like the benchmark).
# usage: bench/profile.sh short|ka|bulk [seconds]   -> prints the top functions by self time
# Starts its own backends on the benchmark ports; run it when bench.py is not running.
set -eu
kind=${1:-short}; secs=${2:-8}
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/lib/profile.py" "$kind" "$secs"
