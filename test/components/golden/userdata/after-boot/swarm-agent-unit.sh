#!/bin/sh
# Installs geoswarm-swarm-agent.service; restarts it only when the unit changed.
set -eu
unit='geoswarm-swarm-agent.service'
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/unit" <<'GEOSWARM_EOF'
[Unit]
Description=Standalone Swarm agent: registers this engine in Consul
Requires=docker.service
After=docker.service network-online.target
Wants=network-online.target

[Service]
ExecStartPre=-/usr/bin/docker rm -f swarm-agent
ExecStart=/usr/bin/docker run --rm --name swarm-agent swarm:1.2.9 join --advertise=203.0.113.7:2376 --ttl 20s --heartbeat 4s consul://198.51.100.10:8500/swarmcluster
ExecStop=/usr/bin/docker stop swarm-agent
Restart=always
RestartSec=5s
TimeoutStartSec=300s

[Install]
WantedBy=multi-user.target
GEOSWARM_EOF
if ! sudo cmp -s "$work/unit" '/etc/systemd/system/geoswarm-swarm-agent.service'; then
  sudo install -D -m 0644 "$work/unit" '/etc/systemd/system/geoswarm-swarm-agent.service'
  sudo systemctl daemon-reload
  sudo systemctl enable "$unit"
  action=restart
elif sudo systemctl is-active --quiet "$unit"; then
  action=""
else
  action=start
fi
if [ -n "$action" ] && ! sudo systemctl "$action" "$unit"; then
  sudo journalctl -u "$unit" -n 30 --no-pager >&2 || true
  exit 1
fi
echo "$unit: ${action:-unchanged, running}"
