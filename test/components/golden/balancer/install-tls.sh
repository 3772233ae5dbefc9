#!/bin/sh
# Installs geoswarm-lb from the staging directory, restarts it (or reloads it when only its
# servers changed) and waits for its API.
set -eu
staging='/home/ubuntu/geoswarm-lb-staging'
unit='geoswarm-lb.service'
ping_url='https://127.0.0.1:8888/ping'
restart_key=''
key_file='/etc/geoswarm-lb/restart-key'
# put <staged file> <destination> <install options>: a staged secret missing here was removed by
# an earlier successful install (copies run again only when their content changes).
put() {
  src="$staging/$1"
  dst=$2
  shift 2
  if [ -f "$src" ]; then
    sudo install "$@" "$src" "$dst"
  elif ! sudo test -f "$dst"; then
    echo "geoswarm-lb install: $src is not staged and $dst was never installed; replace the balancer's copy step for it (pulumi up --replace <its URN>)" >&2
    exit 1
  fi
}
sudo install -d -m 0755 '/opt/geoswarm-lb'
sudo install -d -m 0750 -g 'geoswarm-lb' "$(dirname '/etc/geoswarm-lb/config.toml')"
put geoswarm-lb.cjs '/opt/geoswarm-lb/geoswarm-lb.cjs' -m 0644
sudo rm -f '/opt/geoswarm-lb/geoswarm-lb.node' '/opt/geoswarm-lb/geoswarm-lb.node.id'
put config.toml '/etc/geoswarm-lb/config.toml' -m 0640 -g 'geoswarm-lb'
put 'geoswarm-lb.service' '/etc/systemd/system/geoswarm-lb.service' -m 0644
sudo install -d -m 0750 -g 'geoswarm-lb' '/etc/geoswarm-lb/docker'
put docker-ca.pem '/etc/geoswarm-lb/docker/ca.pem' -m 0644
put docker-cert.pem '/etc/geoswarm-lb/docker/cert.pem' -m 0644
put docker-key.pem '/etc/geoswarm-lb/docker/key.pem' -m 0640 -g 'geoswarm-lb'
sudo install -d -m 0750 -g 'geoswarm-lb' '/etc/geoswarm-lb/api'
put api-ca.pem '/etc/geoswarm-lb/api/ca.pem' -m 0644
put api-cert.pem '/etc/geoswarm-lb/api/cert.pem' -m 0644
put api-key.pem '/etc/geoswarm-lb/api/key.pem' -m 0640 -g 'geoswarm-lb'
sudo '/usr/local/bin/node' '/opt/geoswarm-lb/geoswarm-lb.cjs' -c '/etc/geoswarm-lb/config.toml' --check
sudo systemctl daemon-reload
sudo systemctl enable 'geoswarm-lb.service'
if [ -n "$restart_key" ] && sudo systemctl is-active --quiet "$unit" &&
  [ "$(sudo cat "$key_file" 2>/dev/null || true)" = "$restart_key" ]; then
  action=reloading
  since=$(date +%s)
  sudo systemctl reload "$unit"
else
  action=restarting
  sudo systemctl restart "$unit"
fi
# Type=simple: systemd calls the service started at once; the API answering is readiness.
deadline=$(($(date +%s) + 60))
until last=$(curl -fsS --max-time 2 --cacert '/etc/geoswarm-lb/api/ca.pem' -o /dev/null "$ping_url" 2>&1); do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "geoswarm-lb install: the API did not answer GET $ping_url within 60 s after $action $unit (last attempt: $last); its last log lines:" >&2
    sudo journalctl -u "$unit" -n 40 --no-pager >&2 || true
    exit 1
  fi
  sleep 1
done
# SIGHUP reloads in the background: wait for its outcome in the journal (a failed reload keeps
# the old servers running, so /ping alone cannot tell).
if [ "$action" = reloading ]; then
  journal() { sudo journalctl -u "$unit" --since "@$since" -o cat --no-pager 2>/dev/null || true; }
  until journal | grep -qE 'configuration reloaded|reload failed'; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "geoswarm-lb install: no reload outcome from $unit in its journal within 60 s" >&2
      exit 1
    fi
    sleep 1
  done
  # A reload that applied some servers but not all still logs "configuration reloaded".
  if refused=$(journal | grep -E 'reload failed|server not applied'); then
    echo "geoswarm-lb install: $unit did not apply the new configuration (the running one stays): $refused" >&2
    exit 1
  fi
fi
printf '%s
' "$restart_key" | sudo tee "$key_file" >/dev/null
echo "geoswarm-lb install: $action $unit done, API ready"
for f in config.toml docker-key.pem api-key.pem api-password; do
  rm -f "$staging/$f"
done
