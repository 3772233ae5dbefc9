#!/usr/bin/env bash
# Checks, before `pulumi up`, that this machine can reach what the deployment needs: SSH to every
# machine (directly from inside ssh.allowedCidr, or through ssh.bastion) and the balancer's REST
# API (from allowedCidr or balancer.apiAllowedCidrs). Without that, remote commands and LbServer
# calls wait out their 20-minute timeouts and fail.
# Usage: scripts/deploy-preflight.sh [-s STACK | --file FILE] [--ip ADDRESS]
#   -s STACK      stack whose Pulumi.<STACK>.yaml is read (default: prod)
#   --file FILE   read this stack file instead
#   --ip ADDRESS  this machine's public IPv4 address (default: asked from checkip.amazonaws.com)
set -euo pipefail

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
log() { printf '[preflight] %s\n' "$*"; }

stack=prod
file=""
ip=""
while [ $# -gt 0 ]; do
  case "$1" in
    -s) stack="${2:?-s needs a stack name}"; shift 2 ;;
    --file) file="${2:?--file needs a path}"; shift 2 ;;
    --ip) ip="${2:?--ip needs an address}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) log "unknown argument: $1"; usage >&2; exit 2 ;;
  esac
done

[ -n "$file" ] || file="$(dirname "$0")/../Pulumi.${stack}.yaml"
[ -f "$file" ] || { log "no stack file $file"; exit 2; }
if [ -z "$ip" ]; then
  ip=$(curl -fsS --max-time 10 https://checkip.amazonaws.com | tr -d '[:space:]') ||
    { log "cannot find this machine's public address; pass --ip"; exit 2; }
fi
log "$file: this machine's public address $ip"

python3 - "$file" "$ip" <<'PY'
import ipaddress, sys, yaml

path, ip = sys.argv[1], ipaddress.ip_address(sys.argv[2])
config = (yaml.safe_load(open(path)) or {}).get("config", {})
ssh = config.get("geoswarm:ssh") or {}
balancer = config.get("geoswarm:balancer") or {}
allowed = ssh.get("allowedCidr")
if not allowed:
    sys.exit(f"[preflight] {path}: geoswarm:ssh.allowedCidr is not set")
inside = lambda cidr: ip in ipaddress.ip_network(cidr, strict=False)
problems = []
if inside(allowed):
    print(f"[preflight] ssh: {ip} is inside ssh.allowedCidr {allowed}: direct SSH and API access")
    sys.exit(0)
bastion = ssh.get("bastion")
if bastion:
    print(f"[preflight] ssh: through the bastion {bastion.get('host')} (it must be inside {allowed})")
else:
    problems.append(
        f"ssh: {ip} is outside ssh.allowedCidr {allowed} and geoswarm:ssh.bastion is not set"
    )
api = [c for c in balancer.get("apiAllowedCidrs", []) if inside(c)]
if api:
    print(f"[preflight] api: {ip} is inside balancer.apiAllowedCidrs {api[0]}")
else:
    problems.append(
        f"api: {ip} is outside ssh.allowedCidr {allowed} and every geoswarm:balancer.apiAllowedCidrs entry"
    )
if problems:
    for p in problems:
        print(f"[preflight] {p}", file=sys.stderr)
    print(
        "[preflight] run pulumi from inside ssh.allowedCidr (a self-hosted runner there), or set "
        "ssh.bastion and balancer.apiAllowedCidrs (docs/deploy.md, '3. SSH key and where pulumi runs')",
        file=sys.stderr,
    )
    sys.exit(1)
PY
