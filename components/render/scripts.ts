// Shell scripts put on hosts. Every value is embedded with shq(); tests run shellcheck on each.
import { LOCAL_AGENT_HTTP_PORT } from "./consul";

/** Single-quotes a value for POSIX sh. */
export function shq(value: string): string {
  return `'${value.replace(/'/g, `'"'"'`)}'`;
}

export const NODE_PREFIX = "/usr/local/lib/nodejs";
export const NODE_BIN = "/usr/local/bin/node";

/**
 * Installs the pinned Node.js runtime for geoswarm-lb from nodejs.org. The tarball is checked
 * against `sha256` when given, else against the release's SHASUMS256.txt (fetched over HTTPS).
 */
export function installNodeScript(version: string, sha256?: string): string {
  return `#!/bin/sh
# Installs Node.js ${version} (linux-x64) into ${NODE_PREFIX} and links ${NODE_BIN}.
set -eu
version=${shq(version)}
pinned_sha256=${shq(sha256 ?? "")}
tarball="node-v\${version}-linux-x64.tar.xz"
base="https://nodejs.org/dist/v\${version}"
if [ -x ${NODE_BIN} ] && [ "$(${NODE_BIN} --version)" = "v\${version}" ]; then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsSL --retry 5 -o "$work/$tarball" "$base/$tarball"
if [ -n "$pinned_sha256" ]; then
  printf '%s  %s\\n' "$pinned_sha256" "$work/$tarball" | sha256sum -c -
else
  curl -fsSL --retry 5 "$base/SHASUMS256.txt" | grep " $tarball\\$" | sed "s#  #  $work/#" | sha256sum -c -
fi
mkdir -p ${NODE_PREFIX}
tar -xJf "$work/$tarball" -C ${NODE_PREFIX}
ln -sfn "${NODE_PREFIX}/node-v\${version}-linux-x64/bin/node" ${NODE_BIN}
${NODE_BIN} --version
`;
}

/**
 * Discovery for the balancer's \`consul\` server (discovery kind "exec"): asks the local Consul
 * agent for the healthy \`consul\` service instances and prints "<address>:8500" per server.
 * Exits non-zero on an empty answer so failpolicy "keeplast" keeps the previous list.
 */
export function consulServersScript(): string {
  return `#!/bin/sh
# geoswarm-lb exec discovery: the Consul servers' HTTP API addresses, one "host:port" per line.
set -eu
agent=${shq(`http://127.0.0.1:${LOCAL_AGENT_HTTP_PORT}`)}
servers=$(curl -fsS --max-time 4 "$agent/v1/health/service/consul?passing=1" |
  jq -r '.[] | "\\(.Node.Address):8500"')
if [ -z "$servers" ]; then
  echo "no healthy consul servers in the catalog" >&2
  exit 1
fi
printf '%s\\n' "$servers"
`;
}

/** Swarm mode: initialises the swarm on the manager once (idempotent). */
export function swarmInitScript(advertiseIp: string): string {
  return `#!/bin/sh
# Initialises Docker swarm mode on this manager unless it is already part of a swarm.
set -eu
advertise=${shq(advertiseIp)}
state=$(docker info --format '{{.Swarm.LocalNodeState}}')
if [ "$state" = "active" ]; then
  exit 0
fi
docker swarm init --advertise-addr "$advertise" --listen-addr 0.0.0.0:2377
`;
}

/** Swarm mode: joins a worker with the token in tokenFile, retrying until the manager answers. */
export function swarmJoinScript(
  advertiseIp: string,
  managerAddr: string,
  tokenFile: string,
): string {
  return `#!/bin/sh
# Joins this Docker host to the swarm as a worker (idempotent, retries for ~10 minutes).
set -eu
advertise=${shq(advertiseIp)}
manager=${shq(managerAddr)}
token_file=${shq(tokenFile)}
state=$(docker info --format '{{.Swarm.LocalNodeState}}')
if [ "$state" = "active" ]; then
  exit 0
fi
i=0
until docker swarm join --advertise-addr "$advertise" --token "$(cat "$token_file")" "$manager"; do
  i=$((i + 1))
  if [ "$i" -ge 60 ]; then
    echo "could not join the swarm at $manager" >&2
    exit 1
  fi
  sleep 10
done
`;
}

/**
 * Installs files copied by SFTP into place for geoswarm-lb and restarts it. Runs as the SSH user
 * (sudo), from a remote.Command whose triggers are the artifact's and config's hashes. It runs
 * after the staging step, which already waited for cloud-init (WAIT_FOR_CLOUD_INIT).
 */
export function lbInstallScript(p: {
  stagingDir: string;
  installDir: string;
  configPath: string;
  unitName: string;
  user: string;
  /**
   * Where to install the Docker client TLS files copied as docker-{ca,cert,key}.pem (docker
   * discovery against the Swarm manager). Defaults to none: no TLS files are installed.
   */
  dockerTlsDir?: string;
}): string {
  const tls = p.dockerTlsDir
    ? `sudo install -d -m 0750 -g ${shq(p.user)} ${shq(p.dockerTlsDir)}
sudo install -m 0644 "$staging/docker-ca.pem" ${shq(`${p.dockerTlsDir}/ca.pem`)}
sudo install -m 0644 "$staging/docker-cert.pem" ${shq(`${p.dockerTlsDir}/cert.pem`)}
sudo install -m 0640 -g ${shq(p.user)} "$staging/docker-key.pem" ${shq(`${p.dockerTlsDir}/key.pem`)}
`
    : "";
  return `#!/bin/sh
# Installs geoswarm-lb from the staging directory and restarts it.
set -eu
staging=${shq(p.stagingDir)}
sudo install -d -m 0755 ${shq(p.installDir)}
sudo install -d -m 0750 -g ${shq(p.user)} "$(dirname ${shq(p.configPath)})"
sudo install -m 0644 "$staging/geoswarm-lb.cjs" ${shq(`${p.installDir}/geoswarm-lb.cjs`)}
sudo install -m 0640 -g ${shq(p.user)} "$staging/config.toml" ${shq(p.configPath)}
sudo install -m 0644 "$staging/${p.unitName}" ${shq(`/etc/systemd/system/${p.unitName}`)}
${tls}sudo ${shq(NODE_BIN)} ${shq(`${p.installDir}/geoswarm-lb.cjs`)} -c ${shq(p.configPath)} --check
sudo systemctl daemon-reload
sudo systemctl enable ${shq(p.unitName)}
sudo systemctl restart ${shq(p.unitName)}
`;
}
