#!/bin/sh
# Installs the Docker engine's TLS files and daemon.json from stdin; restarts docker on a change.
set -eu
tls_dir='/etc/docker/tls'
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
while read -r name data; do
  case "$name" in
    ca.pem | cert.pem | key.pem | daemon.json) printf '%s' "$data" | base64 -d >"$work/$name" ;;
    *)
      echo "unexpected file on stdin: $name" >&2
      exit 1
      ;;
  esac
done
changed=0
put() {
  if [ ! -s "$work/$1" ]; then
    echo "missing $1 on stdin" >&2
    exit 1
  fi
  if ! sudo cmp -s "$work/$1" "$2"; then
    sudo install -D -m "$3" "$work/$1" "$2"
    changed=1
  fi
}
put ca.pem "$tls_dir/ca.pem" 0644
put cert.pem "$tls_dir/cert.pem" 0644
put key.pem "$tls_dir/key.pem" 0600
put daemon.json /etc/docker/daemon.json 0644
if [ "$changed" -eq 1 ]; then
  if ! sudo systemctl restart docker; then
    sudo journalctl -u docker -n 30 --no-pager >&2 || true
    exit 1
  fi
fi
sudo docker version --format 'docker {{.Server.Version}} with TLS on :2376'
