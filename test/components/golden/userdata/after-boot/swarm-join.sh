#!/bin/sh
# Joins this Docker host to the swarm as a worker with the token read from stdin.
set -eu
advertise='203.0.113.7'
manager='198.51.100.20:2377'
token_file='/etc/geoswarm/swarm-token'
read -r token
if [ -z "$token" ]; then
  echo "no join token on stdin" >&2
  exit 1
fi
state=$(sudo docker info --format '{{.Swarm.LocalNodeState}}')
if [ "$state" = "active" ] && [ "$(sudo cat "$token_file" 2>/dev/null || true)" = "$token" ]; then
  echo "already a worker of the swarm at $manager"
  exit 0
fi
if [ "$state" != "inactive" ]; then
  sudo docker swarm leave --force
fi
i=0
until sudo docker swarm join --advertise-addr "$advertise" --token "$token" "$manager"; do
  i=$((i + 1))
  if [ "$i" -ge 60 ]; then
    echo "could not join the swarm at $manager" >&2
    exit 1
  fi
  sleep 10
done
printf '%s\n' "$token" | sudo install -D -m 0600 /dev/stdin "$token_file"
