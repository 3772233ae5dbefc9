#!/bin/sh
# Builds geoswarm-lb from a git revision (default HEAD) into /tmp for A/B runs:
#   BENCH_BASELINE=$(bench/ab-build.sh HEAD~1) python3 bench/bench.py --quick --targets haproxy,geoswarm,geoswarm-base
set -eu
rev=${1:-HEAD}
repo=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d /tmp/geoswarm-ab-XXXXXX)
git -C "$repo" archive "$rev" lb package.json scripts/bundle.mjs | tar -x -C "$out"
ln -s "$repo/node_modules" "$out/node_modules"
(cd "$out" && node lb/build.mjs >&2)
echo "$out/lb/dist/geoswarm-lb.cjs"
