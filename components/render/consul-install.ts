// The after-boot step that installs and upgrades a Consul agent (servers and the balancer's client
// agent): the HashiCorp apt source, `consul=<version>` pinned and held, the config (on stdin: it
// holds the gossip key), the unit, then a bounded wait for the agent and, on a server that was
// already running, for the whole cluster. Pure; tests run shellcheck on it and run the wait
// against a stub `consul` that answers like the real CLI.
import { CONSUL_CONFIG_FILE } from "./consul";
import { HASHICORP_APT_KEY } from "./hashicorp-key";
import { heredoc } from "./machine-scripts";
import { shq } from "./scripts";
import { consulUnit } from "./systemd";

export const HASHICORP_KEYRING = "/etc/apt/keyrings/hashicorp.asc";
const HASHICORP_SOURCE_LIST = "/etc/apt/sources.list.d/hashicorp.list";
const CONSUL_UNIT_FILE = "/etc/systemd/system/consul.service";
/** Written when a server's step completed: from then on a restart must find a whole cluster. */
const CONSUL_STEP_DONE = "/var/lib/geoswarm/consul-step-done";

/** A file the step installs besides the agent's own (e.g. the balancer's discovery helper). */
export interface ExtraFile {
  path: string;
  content: string;
  /** Octal mode, e.g. "0755". */
  mode: string;
}

export interface ConsulWaitOptions {
  /** This agent's node name. */
  nodeName: string;
  /** The local agent's HTTP API, e.g. "http://127.0.0.1:8500". */
  httpAddr: string;
  /**
   * Node names of every Consul server: on a server whose agent was running before this step, the
   * step succeeds only once there is a leader and each of them is an alive server and a voter.
   * Empty for a client agent (it only waits for itself).
   */
  servers: string[];
  /** How long to wait, in seconds. Defaults to 300. */
  waitSeconds?: number;
  /** Seconds between two probes. Defaults to 5. */
  intervalSeconds?: number;
}

/**
 * The bounded wait, as a script of its own (the install step embeds it): `$1` = "cluster" waits
 * for a leader with every server alive and voting, anything else for the local agent listing
 * itself alive. Reads `consul operator raft list-peers` (Node ID Address State Voter ...) and
 * `consul members` (Node Address Status Type ...) through the local agent.
 */
function consulWaitScript(o: ConsulWaitOptions): string {
  const wait = o.waitSeconds ?? 300;
  const interval = o.intervalSeconds ?? 5;
  return `#!/bin/sh
# Waits (at most ${wait} s) for the local Consul agent and, with "cluster", for the whole cluster.
set -u
node=${shq(o.nodeName)}
http_addr=${shq(o.httpAddr)}
# The servers to wait for: the caller's list (the voters before a restart), else the config's.
servers=\${WAIT_SERVERS:-${shq(o.servers.join(" "))}}
wait_seconds=${wait}
interval=${interval}
mode=\${1:-agent}
alive() {
  printf '%s\\n' "$members" |
    awk -v n="$1" -v t="$2" 'NR > 1 && $1 == n && $3 == "alive" && (t == "" || $4 == t) { f = 1 } END { exit !f }'
}
voter() {
  printf '%s\\n' "$peers" | awk -v n="$1" 'NR > 1 && $1 == n && $5 == "true" { f = 1 } END { exit !f }'
}
has_leader() {
  printf '%s\\n' "$peers" | awk 'NR > 1 && $4 == "leader" { f = 1 } END { exit !f }'
}
probe() {
  members=$(consul members -http-addr="$http_addr" 2>&1) || return 1
  alive "$node" "" || return 1
  [ "$mode" = cluster ] || return 0
  peers=$(consul operator raft list-peers -http-addr="$http_addr" 2>&1) || return 1
  has_leader || return 1
  for s in $servers; do
    voter "$s" || return 1
    alive "$s" server || return 1
  done
}
members="" peers=""
waited=0
until probe; do
  if [ "$waited" -ge "$wait_seconds" ]; then
    if [ "$mode" = cluster ]; then
      echo "consul: after $wait_seconds s there is no leader with every server ($servers) alive and voting, seen from $node" >&2
    else
      echo "consul: the agent $node did not come up alive within $wait_seconds s" >&2
    fi
    printf 'consul members:\\n%s\\nconsul operator raft list-peers:\\n%s\\n' "$members" "$peers" >&2
    exit 1
  fi
  sleep "$interval"
  waited=$((waited + interval))
done
if [ "$mode" = cluster ]; then
  echo "consul: $node is back; leader elected, servers $servers alive and voting"
else
  echo "consul: agent $node is alive"
fi
`;
}

export interface ConsulInstallOptions extends ConsulWaitOptions {
  /** Debian version of the `consul` package, e.g. "1.20.2-1". */
  version: string;
  /** More files to install with the agent (path, content, mode). Defaults to none. */
  files?: ExtraFile[];
}

/**
 * Installs or upgrades the agent in place; idempotent. The config arrives on stdin (secret: the
 * gossip key). The agent restarts only when the package, the config or the unit changed; starts
 * and restarts do not block (a server's first start joins the others, which the next steps
 * start), and the embedded wait (consulWaitScript) then bounds the step: a server that was running
 * before waits for the whole cluster, so the chained steps upgrade one server at a time.
 */
export function consulInstallScript(o: ConsulInstallOptions): string {
  if (!/^\d+\.\d+\.\d+-\d+$/.test(o.version))
    throw new Error(
      `consulInstallScript: version "${o.version}" is not a Debian version such as "1.20.2-1"`,
    );
  const extra = (o.files ?? []).map(
    (f, i) => `${heredoc(f.content, `"$work/extra-${i}"`)}
put extra-${i} ${shq(f.path)} ${shq(f.mode)} root`,
  );
  const waitScript = consulWaitScript(o);
  return `#!/bin/sh
# Installs Consul ${o.version} with geoswarm's config (stdin) and unit on ${o.nodeName}; restarts
# the agent only on a change, then waits for it (and on a running server, for the cluster).
set -eu
version=${shq(o.version)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/config.json"
if [ ! -s "$work/config.json" ]; then
  echo "no Consul config on stdin" >&2
  exit 1
fi
# put <file in $work> <destination> <mode> <group>
put() {
  if ! sudo cmp -s "$work/$1" "$2"; then
    sudo install -D -m "$3" -o root -g "$4" "$work/$1" "$2"
    changed=1
  fi
}
${
  o.servers.length > 0
    ? `# A whole cluster is expected only after an earlier run of this step completed: a first deploy
# that was interrupted restarts with the agent-only wait, as the first time.
was_active=0
if sudo systemctl is-active --quiet consul && [ -f ${CONSUL_STEP_DONE} ]; then
  was_active=1
fi
`
    : ""
}${heredoc(HASHICORP_APT_KEY, '"$work/hashicorp.asc"')}
codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)
echo "deb [signed-by=${HASHICORP_KEYRING}] https://apt.releases.hashicorp.com $codename main" >"$work/hashicorp.list"
put hashicorp.asc ${HASHICORP_KEYRING} 0644 root
put hashicorp.list ${HASHICORP_SOURCE_LIST} 0644 root
${extra.map((e) => `${e}\n`).join("")}# The apt key and source (and extra files) alone do not restart the agent: only what follows counts.
changed=0
installed=$(dpkg-query -W consul 2>/dev/null | cut -f2)
if [ "$installed" != "$version" ]; then
  # At first boot apt-daily or unattended-upgrades may hold the dpkg lock: wait for it.
  sudo apt-get -o DPkg::Lock::Timeout=600 update -q
  sudo env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get -o DPkg::Lock::Timeout=600 \\
    install -y -q --allow-downgrades --allow-change-held-packages "consul=$version"
  tries=0
  until sudo apt-mark hold consul; do
    tries=$((tries + 1))
    [ "$tries" -lt 60 ] || exit 1
    sleep 5
  done
  changed=1
fi
# The package ships a default config; the unit reads ours only, the file would only mislead.
sudo rm -f /etc/consul.d/consul.hcl
put config.json ${CONSUL_CONFIG_FILE} 0640 consul
${heredoc(consulUnit(CONSUL_CONFIG_FILE), '"$work/consul.service"')}
put consul.service ${CONSUL_UNIT_FILE} 0644 root
if [ "$changed" -eq 1 ]; then
${
  o.servers.length > 0
    ? `  if [ "$was_active" -eq 1 ]; then
    # Wait for the servers that vote now, not the config's list: servers added by this change
    # are installed by later steps of the chain.
    WAIT_SERVERS=$(consul operator raft list-peers -http-addr=${shq(o.httpAddr)} 2>/dev/null |
      awk 'NR > 1 && $5 == "true" { printf "%s ", $1 }') || WAIT_SERVERS=""
    export WAIT_SERVERS
    old_pid=$(systemctl show -p MainPID --value consul)
  fi
`
    : ""
}  sudo systemctl daemon-reload
  sudo systemctl enable consul
  sudo systemctl restart --no-block consul
${
  o.servers.length > 0
    ? `  if [ "$was_active" -eq 1 ]; then
    # The old process may still answer: wait for the new one (Type=notify: active = joined).
    tries=0
    until [ "$(systemctl show -p MainPID --value consul)" != "$old_pid" ] &&
      systemctl is-active --quiet consul; do
      tries=$((tries + 1))
      [ "$tries" -lt 300 ] || { echo "consul did not restart within 300 s" >&2; exit 1; }
      sleep 1
    done
  fi
`
    : ""
}else
  sudo systemctl enable --now --no-block consul
fi
${heredoc(waitScript, '"$work/wait.sh"')}
${
  o.servers.length > 0
    ? `# A running server was restarted (or kept): the next server's step must find a whole cluster.
if [ "$was_active" -eq 1 ]; then
  sh "$work/wait.sh" cluster
else
  sh "$work/wait.sh" agent
fi
sudo install -D -m 0644 /dev/null ${CONSUL_STEP_DONE}`
    : `sh "$work/wait.sh" agent`
}
`;
}
