// cloud-init user data (#cloud-config) for each kind of host. Pure: plain values in, text out.
// Secrets (TLS keys, gossip key, swarm token) arrive here as plain strings inside an apply, so
// the instance's userData is a secret Output in Pulumi state.
import { CONSUL_CONFIG_FILE, type ConsulConfig, renderConsulConfig } from "./consul";
import { DOCKER_TLS_DIR, daemonJson, renderDaemonJson } from "./docker";
import {
  consulServersScript,
  installNodeScript,
  swarmInitScript,
  swarmJoinScript,
} from "./scripts";
import { consulUnit, dockerContainerUnit, dockerDropIn } from "./systemd";
import { toYaml, type YamlValue } from "./yaml";

/** HashiCorp's apt signing key (https://www.hashicorp.com/trust/security). */
export const HASHICORP_APT_KEY = "798AEC654E5C15428C8E42EEAA16FCBCA621E701";
export const SWARM_TOKEN_FILE = "/etc/geoswarm/swarm-token";
export const CONSUL_SERVERS_SCRIPT = "/usr/local/lib/geoswarm/consul-servers.sh";

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

const hashicorpSource: Record<string, YamlValue> = {
  hashicorp: {
    source: "deb [signed-by=$KEY_FILE] https://apt.releases.hashicorp.com $RELEASE main",
    keyid: HASHICORP_APT_KEY,
    keyserver: "keyserver.ubuntu.com",
  },
};

function tlsFiles(tls: TlsFiles): WriteFile[] {
  return [
    file(`${DOCKER_TLS_DIR}/ca.pem`, tls.caPem, "0644"),
    file(`${DOCKER_TLS_DIR}/cert.pem`, tls.certPem, "0644"),
    file(`${DOCKER_TLS_DIR}/key.pem`, tls.keyPem, "0600"),
  ];
}

/** Files every Docker engine (hosts and the manager) gets: daemon.json, drop-in, TLS. */
function engineFiles(
  labels: Record<string, string>,
  tls: TlsFiles,
  swarmMode: boolean,
): WriteFile[] {
  return [
    file("/etc/docker/daemon.json", renderDaemonJson(daemonJson({ labels, swarmMode }))),
    file(
      "/etc/systemd/system/docker.service.d/geoswarm.conf",
      // Standalone Swarm 1.2.x speaks an old Engine API that modern engines refuse by default.
      dockerDropIn({ minApiVersion: swarmMode ? undefined : "1.22" }),
    ),
    ...tlsFiles(tls),
  ];
}

export type HostSwarm =
  | { mode: "standalone"; image: string; discoveryUrl: string }
  | { mode: "swarm"; managerAddr: string; token: string };

export interface DockerHostUserData {
  hostname: string;
  /** This host's Elastic IP. */
  publicIp: string;
  /** Engine labels, `region` included. */
  labels: Record<string, string>;
  tls: TlsFiles;
  swarm: HostSwarm;
}

const SWARM_AGENT_UNIT = "geoswarm-swarm-agent.service";
export const SWARM_MANAGER_UNIT = "geoswarm-swarm-manager.service";

export function dockerHostUserData(h: DockerHostUserData): string {
  const files = engineFiles(h.labels, h.tls, h.swarm.mode === "swarm");
  const runcmd: string[][] = [
    ["systemctl", "daemon-reload"],
    ["systemctl", "restart", "docker"],
  ];
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
  } else {
    files.push(file(SWARM_TOKEN_FILE, `${h.swarm.token}\n`, "0600"));
    files.push(
      file(
        "/usr/local/lib/geoswarm/swarm-join.sh",
        swarmJoinScript(h.publicIp, h.swarm.managerAddr, SWARM_TOKEN_FILE),
        "0755",
      ),
    );
    runcmd.push(["/usr/local/lib/geoswarm/swarm-join.sh"]);
  }
  return cloudConfig({
    hostname: h.hostname,
    packages: ["docker.io", "ca-certificates"],
    files,
    runcmd,
  });
}

export interface ManagerUserData {
  hostname: string;
  publicIp: string;
  /** Server+client certificate: serves the API and, in standalone mode, dials the engines. */
  tls: TlsFiles;
  swarm:
    | { mode: "standalone"; image: string; strategy: string; discoveryUrl: string }
    | { mode: "swarm" };
}

export function managerUserData(m: ManagerUserData): string {
  const labels = { region: "manager", role: "manager" };
  const files = engineFiles(labels, m.tls, m.swarm.mode === "swarm");
  const runcmd: string[][] = [
    ["systemctl", "daemon-reload"],
    ["systemctl", "restart", "docker"],
  ];
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
    packages: ["docker.io", "ca-certificates"],
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
