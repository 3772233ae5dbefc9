// cloud-init user data (#cloud-config) for each kind of host. Pure: plain values in, text out.
// User data forces a new instance when it changes (cloud-init applies it on first boot only), so
// it holds only what never changes for the machine's life: packages, daemon settings, units and
// the Consul config (gossip key included, which is why the instance's userData is a secret).
// Certificates and swarm join tokens change while a machine lives; they arrive after boot through
// remote commands (render/machine-scripts.ts).
import { CONSUL_CONFIG_FILE, type ConsulConfig, renderConsulConfig } from "./consul";
import { DOCKER_TLS_DIR, daemonJson, renderDaemonJson } from "./docker";
import { HASHICORP_APT_KEY } from "./hashicorp-key";
import { consulServersScript, installNodeScript, swarmInitScript } from "./scripts";
import { consulUnit, dockerContainerUnit, dockerDropIn } from "./systemd";
import { toYaml, type YamlValue } from "./yaml";

export const CONSUL_SERVERS_SCRIPT = "/usr/local/lib/geoswarm/consul-servers.sh";

/**
 * Ubuntu 24.04's docker.io, pinned and held. Standalone Swarm 1.2.x speaks Engine API 1.22:
 * Docker <= 24 accepts it by default (minimum 1.12); 25.x only with DOCKER_MIN_API_VERSION=1.22
 * (moby#46887 raised the default minimum to 1.24 and added the variable); 26.0 removed API < 1.24
 * (moby#47155; the variable can then only raise the minimum) and 29 raised the default minimum to
 * 1.44 (moby#51186). noble-updates carries 26.x and later, so an unpinned install breaks
 * standalone Swarm. 24.0.7-0ubuntu4 is noble's release-pocket build: the release pocket never
 * changes, so this version stays installable for the life of 24.04 (an -updates version is
 * removed from the mirrors once superseded). `apt-mark hold` keeps unattended-upgrades off it.
 */
export const DOCKER_IO_VERSION = "24.0.7-0ubuntu4";

interface WriteFile {
  path: string;
  content: string;
  permissions: string;
  owner?: string;
}

const file = (path: string, content: string, permissions = "0644", owner?: string): WriteFile =>
  owner ? { path, content, permissions, owner } : { path, content, permissions };

export interface TlsFiles {
  caPem: string;
  certPem: string;
  keyPem: string;
}

function cloudConfig(doc: {
  hostname: string;
  aptSources?: Record<string, YamlValue>;
  packages: (string | [string, string])[];
  files: WriteFile[];
  runcmd: string[][];
}): string {
  const out: Record<string, YamlValue> = {
    hostname: doc.hostname,
    preserve_hostname: false,
    package_update: true,
    package_upgrade: false,
  };
  if (doc.aptSources) out.apt = { sources: doc.aptSources };
  out.packages = doc.packages;
  out.write_files = doc.files.map((f) => ({ ...f }));
  out.runcmd = doc.runcmd;
  return `#cloud-config\n${toYaml(out)}`;
}

// The armoured key itself (cloud-init's apt `key:`), not a keyserver lookup at boot.
const hashicorpSource: Record<string, YamlValue> = {
  hashicorp: {
    source: "deb [signed-by=$KEY_FILE] https://apt.releases.hashicorp.com $RELEASE main",
    key: HASHICORP_APT_KEY,
  },
};

/** The docker.io package pin (see DOCKER_IO_VERSION). */
const DOCKER_PACKAGES: (string | [string, string])[] = [
  ["docker.io", DOCKER_IO_VERSION],
  "ca-certificates",
];

/**
 * Files every Docker engine (hosts and the manager) boots with: daemon.json without the TLS
 * listener (its certificates arrive after boot with the TLS version, engineTlsDaemonJson) and the
 * drop-in.
 */
function engineFiles(labels: Record<string, string>, swarmMode: boolean): WriteFile[] {
  return [
    file(
      "/etc/docker/daemon.json",
      renderDaemonJson(daemonJson({ labels, swarmMode, tls: false })),
    ),
    file(
      "/etc/systemd/system/docker.service.d/geoswarm.conf",
      // Standalone Swarm 1.2.x speaks Engine API 1.22 (see DOCKER_IO_VERSION).
      dockerDropIn({ minApiVersion: swarmMode ? undefined : "1.22" }),
    ),
  ];
}

/** The daemon.json installed with the certificates after boot: the same settings plus TLS on 2376. */
export function engineTlsDaemonJson(labels: Record<string, string>, swarmMode: boolean): string {
  return renderDaemonJson(daemonJson({ labels, swarmMode, tls: true }));
}

const ENGINE_RUNCMD: string[][] = [
  ["apt-mark", "hold", "docker.io"],
  ["systemctl", "daemon-reload"],
  ["systemctl", "restart", "docker"],
];

/** Standalone: the Swarm agent runs from boot. Swarm mode: the join comes after boot (the token). */
export type HostSwarm =
  | { mode: "standalone"; image: string; discoveryUrl: string }
  | { mode: "swarm" };

export interface DockerHostUserData {
  hostname: string;
  /** This host's Elastic IP. */
  publicIp: string;
  /** Engine labels, `region` included. */
  labels: Record<string, string>;
  swarm: HostSwarm;
}

const SWARM_AGENT_UNIT = "geoswarm-swarm-agent.service";
export const SWARM_MANAGER_UNIT = "geoswarm-swarm-manager.service";

export function dockerHostUserData(h: DockerHostUserData): string {
  const files = engineFiles(h.labels, h.swarm.mode === "swarm");
  const runcmd: string[][] = [...ENGINE_RUNCMD];
  if (h.swarm.mode === "standalone") {
    files.push(
      file(
        `/etc/systemd/system/${SWARM_AGENT_UNIT}`,
        dockerContainerUnit({
          description: "Standalone Swarm agent: registers this engine in Consul",
          container: "swarm-agent",
          runArgs: [
            h.swarm.image,
            "join",
            `--advertise=${h.publicIp}:2376`,
            "--ttl 20s",
            "--heartbeat 4s",
            h.swarm.discoveryUrl,
          ],
        }),
      ),
    );
    runcmd.push(["systemctl", "enable", "--now", SWARM_AGENT_UNIT]);
  }
  return cloudConfig({
    hostname: h.hostname,
    packages: DOCKER_PACKAGES,
    files,
    runcmd,
  });
}

export interface ManagerUserData {
  hostname: string;
  publicIp: string;
  swarm:
    | { mode: "standalone"; image: string; strategy: string; discoveryUrl: string }
    | { mode: "swarm" };
}

/** The manager's own engine labels. */
export const MANAGER_LABELS = { region: "manager", role: "manager" };

export function managerUserData(m: ManagerUserData): string {
  const files = engineFiles(MANAGER_LABELS, m.swarm.mode === "swarm");
  const runcmd: string[][] = [...ENGINE_RUNCMD];
  if (m.swarm.mode === "standalone") {
    files.push(
      file(
        `/etc/systemd/system/${SWARM_MANAGER_UNIT}`,
        dockerContainerUnit({
          description: "Standalone Swarm manager (TLS on :2377)",
          container: "swarm-manager",
          runArgs: [
            "-p 2377:2377",
            `-v ${DOCKER_TLS_DIR}:/certs:ro`,
            m.swarm.image,
            "manage",
            "-H :2377",
            `--strategy ${m.swarm.strategy}`,
            "--tlsverify",
            "--tlscacert=/certs/ca.pem",
            "--tlscert=/certs/cert.pem",
            "--tlskey=/certs/key.pem",
            m.swarm.discoveryUrl,
          ],
        }),
      ),
    );
    runcmd.push(["systemctl", "enable", "--now", SWARM_MANAGER_UNIT]);
  } else {
    files.push(file("/usr/local/lib/geoswarm/swarm-init.sh", swarmInitScript(m.publicIp), "0755"));
    runcmd.push(["/usr/local/lib/geoswarm/swarm-init.sh"]);
  }
  return cloudConfig({
    hostname: m.hostname,
    packages: DOCKER_PACKAGES,
    files,
    runcmd,
  });
}

export interface ConsulAgentUserData {
  hostname: string;
  consulVersion: string;
  config: ConsulConfig;
}

function consulAgentParts(c: ConsulAgentUserData) {
  return {
    aptSources: hashicorpSource,
    packages: [["consul", c.consulVersion]] as [string, string][],
    files: [
      file(CONSUL_CONFIG_FILE, renderConsulConfig(c.config), "0640", "root:root"),
      file("/etc/systemd/system/consul.service", consulUnit(CONSUL_CONFIG_FILE)),
    ],
    runcmd: [
      // The package creates the consul user; the gossip key is in the config, so keep it 0640.
      ["chgrp", "consul", CONSUL_CONFIG_FILE],
      ["rm", "-f", "/etc/consul.d/consul.hcl"],
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", "--now", "consul"],
    ],
  };
}

export function consulServerUserData(c: ConsulAgentUserData): string {
  const p = consulAgentParts(c);
  return cloudConfig({ hostname: c.hostname, ...p });
}

export interface BalancerUserData extends ConsulAgentUserData {
  nodeVersion: string;
  nodeSha256?: string;
  /** System user geoswarm-lb runs as. */
  lbUser: string;
}

export function balancerUserData(b: BalancerUserData): string {
  const p = consulAgentParts(b);
  return cloudConfig({
    hostname: b.hostname,
    aptSources: p.aptSources,
    packages: [...p.packages, "curl", "jq", "xz-utils"],
    files: [
      ...p.files,
      file(
        "/usr/local/lib/geoswarm/install-node.sh",
        installNodeScript(b.nodeVersion, b.nodeSha256),
        "0755",
      ),
      file(CONSUL_SERVERS_SCRIPT, consulServersScript(), "0755"),
    ],
    runcmd: [
      ...p.runcmd,
      ["/usr/local/lib/geoswarm/install-node.sh"],
      ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", b.lbUser],
    ],
  });
}
