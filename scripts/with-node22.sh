#!/bin/sh
# Runs a command with the project's pinned Node.js 22 first on PATH, so that `node` (and every
# `#!/usr/bin/env node` tool: vitest, pulumi's Node.js host) is the runtime the project supports,
# on a machine whose own Node is older (Debian 12 ships 18; many still have 20).
# Installs it into .cache/node22 from the npm registry when missing (scripts/install-node22.sh).
# Usage: scripts/with-node22.sh COMMAND [ARGS...]   e.g. scripts/with-node22.sh pulumi up -s prod
set -eu
node22=$("$(dirname "$0")/install-node22.sh")
PATH="$(dirname "$node22"):$PATH"
export PATH
exec "$@"
