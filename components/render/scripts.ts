// Shell scripts put on hosts. Every value is embedded with shq(); tests run shellcheck on each.
import * as path from "node:path";
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

/** Staged files that hold secrets; the install script removes them once installed. */
/** The staged name of the native addon built from `identity` (lb/dist/geoswarm-lb.node.json). */
export const stagedAddonFile = (identity: string): string => `geoswarm-lb-${identity}.node`;

export const LB_STAGED_SECRETS = ["config.toml", "docker-key.pem", "api-key.pem", "api-password"];

/**
 * Installs files copied by SFTP into place for geoswarm-lb, restarts it and waits until its API
 * answers GET /ping. Runs as the SSH user (sudo), from a remote.Command whose triggers are the
 * artifact's and config's hashes. It runs after the staging step, which runs after the machine's
 * boot check (cloud-init finished without errors).
 *
 * Staged secrets (LB_STAGED_SECRETS) are removed after a successful install. Not on failure: the
 * copy steps run again only when their content changes, so a retried install needs them still
 * staged. The same rule lets an install find a secret missing from staging: it was installed by
 * an earlier successful run and is current.
 */
export function lbInstallScript(p: {
  stagingDir: string;
  installDir: string;
  configPath: string;
  unitName: string;
  user: string;
  /** Port of the REST API, probed on 127.0.0.1 after the restart. */
  apiPort: number;
  /**
   * Where to install the Docker client TLS files copied as docker-{ca,cert,key}.pem (docker
   * discovery against the Swarm manager). Defaults to none: no TLS files are installed.
   */
  dockerTlsDir?: string;
  /**
   * Where to install the API's HTTPS files copied as api-{ca,cert,key}.pem; the readiness probe
   * then uses HTTPS and trusts only that CA. Defaults to none: plain HTTP.
   */
  apiTlsDir?: string;
  /**
   * Where to install the API password copied as `api-password` (the config's
   * api.basic_auth.password_file), readable by the service's group only. Defaults to none.
   */
  apiPasswordFile?: string;
  /** How long to wait for GET /ping after the restart. Defaults to 60 seconds. */
  readySeconds?: number;
  /**
   * Hash of everything a reload cannot apply: the artifact, the unit, the config outside its
   * servers, the certificates. When the running service was started under the same key, it is
   * reloaded (SIGHUP: servers converge to the file, established connections survive) instead of
   * restarted. Defaults to none: always restart.
   */
  restartKey?: string;
  /**
   * The native data-path addon (`BalancerArgs.nativeDataPath`). `identity` names the addon's
   * sources, build flags and ABI; its build is staged as `stagedAddonFile(identity)`. With a
   * staged build, it is installed beside the artifact. Without one (pulumi ran where gcc is
   * missing), the host's addon stays when it was built from the same identity, so such a run
   * flips no host between the native and the JS path; otherwise it is removed (JS), or, for
   * "required", the install fails. "off" removes it. Defaults to "off".
   */
  addon?: { mode: "auto" | "required" | "off"; identity: string };
}): string {
  const user = shq(p.user);
  const tlsFiles = (dir: string, prefix: string) => `sudo install -d -m 0750 -g ${user} ${shq(dir)}
put ${prefix}-ca.pem ${shq(`${dir}/ca.pem`)} -m 0644
put ${prefix}-cert.pem ${shq(`${dir}/cert.pem`)} -m 0644
put ${prefix}-key.pem ${shq(`${dir}/key.pem`)} -m 0640 -g ${user}
`;
  const tls =
    (p.dockerTlsDir ? tlsFiles(p.dockerTlsDir, "docker") : "") +
    (p.apiTlsDir ? tlsFiles(p.apiTlsDir, "api") : "");
  const password = p.apiPasswordFile
    ? `put api-password ${shq(p.apiPasswordFile)} -m 0640 -g ${user}\n`
    : "";
  const pingUrl = `${p.apiTlsDir ? "https" : "http"}://127.0.0.1:${p.apiPort}/ping`;
  const cacert = p.apiTlsDir ? ` --cacert ${shq(`${p.apiTlsDir}/ca.pem`)}` : "";
  const readySeconds = p.readySeconds ?? 60;
  const addonSteps = lbAddonSteps(p.installDir, p.addon ?? { mode: "off", identity: "" });
  return `#!/bin/sh
# Installs geoswarm-lb from the staging directory, restarts it (or reloads it when only its
# servers changed) and waits for its API.
set -eu
staging=${shq(p.stagingDir)}
unit=${shq(p.unitName)}
ping_url=${shq(pingUrl)}
restart_key=${shq(p.restartKey ?? "")}
key_file=${shq(`${path.posix.dirname(p.configPath)}/restart-key`)}
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
sudo install -d -m 0755 ${shq(p.installDir)}
sudo install -d -m 0750 -g ${user} "$(dirname ${shq(p.configPath)})"
put geoswarm-lb.cjs ${shq(`${p.installDir}/geoswarm-lb.cjs`)} -m 0644
${addonSteps}put config.toml ${shq(p.configPath)} -m 0640 -g ${user}
${password}put ${shq(p.unitName)} ${shq(`/etc/systemd/system/${p.unitName}`)} -m 0644
${tls}sudo ${shq(NODE_BIN)} ${shq(`${p.installDir}/geoswarm-lb.cjs`)} -c ${shq(p.configPath)} --check
sudo systemctl daemon-reload
sudo systemctl enable ${shq(p.unitName)}
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
deadline=$(($(date +%s) + ${readySeconds}))
until last=$(curl -fsS --max-time 2${cacert} -o /dev/null "$ping_url" 2>&1); do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "geoswarm-lb install: the API did not answer GET $ping_url within ${readySeconds} s after $action $unit (last attempt: $last); its last log lines:" >&2
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
      echo "geoswarm-lb install: no reload outcome from $unit in its journal within ${readySeconds} s" >&2
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
printf '%s\n' "$restart_key" | sudo tee "$key_file" >/dev/null
echo "geoswarm-lb install: $action $unit done, API ready"
for f in ${LB_STAGED_SECRETS.join(" ")}; do
  rm -f "$staging/$f"
done
`;
}

function lbAddonSteps(
  installDir: string,
  a: { mode: "auto" | "required" | "off"; identity: string },
): string {
  const addon = shq(`${installDir}/geoswarm-lb.node`);
  const idFile = shq(`${installDir}/geoswarm-lb.node.id`);
  if (a.mode === "off") return `sudo rm -f ${addon} ${idFile}\n`;
  if (!/^[0-9a-f]{64}$/.test(a.identity)) {
    throw new Error(
      `lbInstallScript: addon.identity must be 64 hex digits (geoswarm-lb.node.json), got ${JSON.stringify(a.identity)}`,
    );
  }
  const missing =
    a.mode === "required"
      ? `  echo "geoswarm-lb install: balancer.nativeDataPath is required, but no native addon $addon_id is staged or installed; run npm run build:lb where pulumi runs (gcc) and pulumi up again" >&2
  exit 1`
      : `  sudo rm -f ${addon} ${idFile}
  echo "geoswarm-lb install: no native addon for these sources (none was built where pulumi ran): the JS data path"`;
  // The host's own addon of the same identity stays when none is staged: a pulumi up from a
  // machine without gcc then neither flips the host to JS nor restarts it.
  return `addon_id=${shq(a.identity)}
if [ -f "$staging/${stagedAddonFile("$addon_id")}" ]; then
  sudo install -m 0644 "$staging/${stagedAddonFile("$addon_id")}" ${addon}
  printf '%s\\n' "$addon_id" | sudo tee ${idFile} >/dev/null
elif [ -f ${addon} ] && [ "$(cat ${idFile} 2>/dev/null || true)" = "$addon_id" ]; then
  echo "geoswarm-lb install: keeping the installed native addon $addon_id (none was built where pulumi ran)"
else
${missing}
fi
`;
}
