#!/bin/sh
# Installs geoswarm-swarm-manager.service; restarts it only when the unit changed.
set -eu
unit='geoswarm-swarm-manager.service'
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/unit" <<'GEOSWARM_EOF'
[Unit]
Description=Standalone Swarm manager (TLS on :2377)
Requires=docker.service
After=docker.service network-online.target
Wants=network-online.target

[Service]
ExecStartPre=-/usr/bin/docker rm -f swarm-manager
ExecStart=/usr/bin/docker run --rm --name swarm-manager -p 2377:2377 -v /etc/docker/tls:/certs:ro swarm:1.2.9 manage -H :2377 --strategy spread --tlsverify --tlscacert=/certs/ca.pem --tlscert=/certs/cert.pem --tlskey=/certs/key.pem consul://198.51.100.10:8500/swarmcluster
ExecStop=/usr/bin/docker stop swarm-manager
Restart=always
RestartSec=5s
TimeoutStartSec=300s

[Install]
WantedBy=multi-user.target
GEOSWARM_EOF
if ! sudo cmp -s "$work/unit" '/etc/systemd/system/geoswarm-swarm-manager.service'; then
  sudo install -D -m 0644 "$work/unit" '/etc/systemd/system/geoswarm-swarm-manager.service'
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
