// cloud-init user data (#cloud-config) for each kind of host. Pure: plain values in, text out.
// User data forces a new instance when it changes (cloud-init applies it on first boot only), and
// the engine would reuse old user data for a replacement if it were ignored, so it holds only
// what is the same for the machine's whole life and no operator changes: the hostname, packages
// whose versions are constants of this code, and the engines' boot settings. Everything an
// operator changes (the Consul version and config, engine labels, the Swarm image, strategy and
// discovery URL, the Node.js version) and everything that renews (certificates, join tokens)
// arrives after boot through remote commands that run again in place (render/machine-scripts.ts,
// render/consul-install.ts).
import { DOCKER_TLS_DIR, daemonJson, renderDaemonJson } from "./docker";
import { swarmInitScript } from "./scripts";
import { dockerContainerUnit, dockerDropIn } from "./systemd";
import { toYaml, type YamlValue } from "./yaml";

/** The balancer's `consul` discovery helper (installed with its Consul agent, after boot). */
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
}

const file = (path: string, content: string, permissions = "0644"): WriteFile => ({
  path,
  content,
  permissions,
});

export interface TlsFiles {
  caPem: string;
  certPem: string;
  keyPem: string;
}

function cloudConfig(doc: {
  hostname: string;
  packages?: (string | [string, string])[];
  files?: WriteFile[];
  runcmd?: string[][];
}): string {
  const out: Record<string, YamlValue> = { hostname: doc.hostname, preserve_hostname: false };
  if (doc.packages?.length) {
    out.package_update = true;
    out.package_upgrade = false;
    out.packages = doc.packages;
  }
  if (doc.files?.length) out.write_files = doc.files.map((f) => ({ ...f }));
  if (doc.runcmd?.length) out.runcmd = doc.runcmd;
  return `#cloud-config\n${toYaml(out)}`;
}

/** The docker.io package pin (see DOCKER_IO_VERSION). */
const DOCKER_PACKAGES: (string | [string, string])[] = [
  ["docker.io", DOCKER_IO_VERSION],
  "ca-certificates",
];

/**
 * Files every Docker engine (hosts and the manager) boots with: daemon.json without the TLS
 * listener and without labels (both arrive after boot with the TLS version, engineTlsDaemonJson:
 * labels are operator config) and the drop-in.
 */
function engineFiles(swarmMode: boolean): WriteFile[] {
  // daemonJson insists on a region label; the boot file carries none.
  const boot = { ...daemonJson({ labels: { region: "-" }, swarmMode, tls: false }), labels: [] };
  return [
    file("/etc/docker/daemon.json", renderDaemonJson(boot)),
    file(
      "/etc/systemd/system/docker.service.d/geoswarm.conf",
      // Standalone Swarm 1.2.x speaks Engine API 1.22 (see DOCKER_IO_VERSION).
      dockerDropIn({ minApiVersion: swarmMode ? undefined : "1.22" }),
    ),
  ];
}

/** The daemon.json installed with the certificates after boot: labels, and TLS on 2376. */
export function engineTlsDaemonJson(labels: Record<string, string>, swarmMode: boolean): string {
  return renderDaemonJson(daemonJson({ labels, swarmMode, tls: true }));
}

const ENGINE_RUNCMD: string[][] = [
  ["apt-mark", "hold", "docker.io"],
  ["systemctl", "daemon-reload"],
  ["systemctl", "restart", "docker"],
];

export const SWARM_AGENT_UNIT = "geoswarm-swarm-agent.service";
export const SWARM_MANAGER_UNIT = "geoswarm-swarm-manager.service";

export interface DockerHostUserData {
  hostname: string;
  /** Swarm mode (no live-restore, no old-API drop-in) or standalone Swarm. */
  swarmMode: boolean;
}

/** A host's user data: the pinned engine only; labels and the Swarm agent come after boot. */
export function dockerHostUserData(h: DockerHostUserData): string {
  return cloudConfig({
    hostname: h.hostname,
    packages: DOCKER_PACKAGES,
    files: engineFiles(h.swarmMode),
    runcmd: [...ENGINE_RUNCMD],
  });
}

/** The standalone Swarm agent (installed after boot): registers this engine in Consul. */
export function swarmAgentUnit(a: {
  image: string;
  publicIp: string;
  discoveryUrl: string;
}): string {
  return dockerContainerUnit({
    description: "Standalone Swarm agent: registers this engine in Consul",
    container: "swarm-agent",
    runArgs: [
      a.image,
      "join",
      `--advertise=${a.publicIp}:2376`,
      "--ttl 20s",
      "--heartbeat 4s",
      a.discoveryUrl,
    ],
  });
}

/** The standalone Swarm manager (installed after boot, after its TLS files). */
export function swarmManagerUnit(m: {
  image: string;
  strategy: string;
  discoveryUrl: string;
}): string {
  return dockerContainerUnit({
    description: "Standalone Swarm manager (TLS on :2377)",
    container: "swarm-manager",
    runArgs: [
      "-p 2377:2377",
      `-v ${DOCKER_TLS_DIR}:/certs:ro`,
      m.image,
      "manage",
      "-H :2377",
      `--strategy ${m.strategy}`,
      "--tlsverify",
      "--tlscacert=/certs/ca.pem",
      "--tlscert=/certs/cert.pem",
      "--tlskey=/certs/key.pem",
      m.discoveryUrl,
    ],
  });
}

export interface ManagerUserData {
  hostname: string;
  /** The manager's Elastic IP (its identity: the swarm-mode advertise address). */
  publicIp: string;
  /** Swarm mode initialises the swarm at boot; standalone runs its manager unit after boot. */
  swarmMode: boolean;
}

/** The manager's own engine labels. */
export const MANAGER_LABELS = { region: "manager", role: "manager" };

export function managerUserData(m: ManagerUserData): string {
  const files = engineFiles(m.swarmMode);
  const runcmd: string[][] = [...ENGINE_RUNCMD];
  if (m.swarmMode) {
    files.push(file("/usr/local/lib/geoswarm/swarm-init.sh", swarmInitScript(m.publicIp), "0755"));
    runcmd.push(["/usr/local/lib/geoswarm/swarm-init.sh"]);
  }
  return cloudConfig({ hostname: m.hostname, packages: DOCKER_PACKAGES, files, runcmd });
}

/**
 * A Consul server's user data: its hostname only. The apt source, `consul=<version>`, the config
 * (gossip key) and the unit come after boot (consulInstallScript), so a new version upgrades the
 * servers in place, one at a time.
 */
export function consulServerUserData(c: { hostname: string }): string {
  return cloudConfig({ hostname: c.hostname });
}

export interface BalancerUserData {
  hostname: string;
  /** System user geoswarm-lb runs as (a constant of the code: LB_USER). */
  lbUser: string;
}

/**
 * The balancer's user data: base packages (unversioned) and the service user. Node.js and the
 * Consul client agent (with the discovery helper) come after boot.
 */
export function balancerUserData(b: BalancerUserData): string {
  return cloudConfig({
    hostname: b.hostname,
    packages: ["curl", "jq", "xz-utils"],
    runcmd: [["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", b.lbUser]],
  });
}
