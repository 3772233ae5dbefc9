#!/bin/sh
# Installs geoswarm-lb from the staging directory and restarts it.
set -eu
staging='/home/ubuntu/geoswarm-lb-staging'
sudo install -d -m 0755 '/opt/geoswarm-lb'
sudo install -d -m 0750 -g 'geoswarm-lb' "$(dirname '/etc/geoswarm-lb/config.toml')"
sudo install -m 0644 "$staging/geoswarm-lb.cjs" '/opt/geoswarm-lb/geoswarm-lb.cjs'
sudo install -m 0640 -g 'geoswarm-lb' "$staging/config.toml" '/etc/geoswarm-lb/config.toml'
sudo install -m 0644 "$staging/geoswarm-lb.service" '/etc/systemd/system/geoswarm-lb.service'
sudo '/usr/local/bin/node' '/opt/geoswarm-lb/geoswarm-lb.cjs' -c '/etc/geoswarm-lb/config.toml' --check
sudo systemctl daemon-reload
sudo systemctl enable 'geoswarm-lb.service'
sudo systemctl restart 'geoswarm-lb.service'
