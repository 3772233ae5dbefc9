// Every network flow of the system, as data: who talks to whom, on which protocol and ports, and
// why. The security groups (planFirewall in ./plan.ts), the flow table in docs/deploy.md and the
// graph test that checks the rendered rules all come from this one list.
import type { ClusterSpec } from "./config";
import type { Role } from "./plan";
import { slug } from "./render/net";

/** Transport protocol of a flow or firewall rule. */
export type Protocol = "tcp" | "udp";

/** Who opens the connection. */
export type FlowSource =
  /** Every machine of a role, by its Elastic IP. */
  | { role: Role }
  /** The operator network (`ssh.allowedCidr`): people, CI runners, the bastion. */
  | { operator: true }
  /**
   * Clients of an entry point (its `allowedCidr`) or of the API (`balancer.apiAllowedCidrs`);
   * `name` identifies the source in rule names, so a changed CIDR updates the rule in place.
   */
  | { clients: string; cidr: string; name: string };

export interface Flow {
  /** Stable identifier; components look up the rules of a flow by it (e.g. "operator-ssh"). */
  id: string;
  from: FlowSource;
  to: Role;
  protocol: Protocol;
  ports: [number, number];
  why: string;
}

/**
 * Host ports Docker picks for `-p <private>` (and for swarm-mode tasks published in host mode
 * without a fixed port): the kernel's ephemeral range, 32768–60999 on Ubuntu. Docker discovery
 * returns `<host EIP>:<that port>`, so the balancer must reach it on every host.
 */
export const DOCKER_PUBLISHED_PORTS: [number, number] = [32768, 60999];

export const CONSUL_RPC_SERF_TCP: [number, number] = [8300, 8302];
export const CONSUL_SERF_UDP: [number, number] = [8301, 8302];
export const CONSUL_HTTP_PORT = 8500;
export const DOCKER_TLS_PORT = 2376;
export const SWARM_PORT = 2377;

const single = (port: number): [number, number] => [port, port];

/** `"low-high"` of `balancer.labels.portRange` (validated by config.ts) as a pair. */
function labelPortRange(range: string): [number, number] {
  const [lo, hi] = range.split("-").map(Number);
  return [lo, hi];
}

/**
 * Port of the Swarm manager's Docker API that clients (DOCKER_HOST, the balancer's docker
 * discovery and labels provider) use: standalone `swarm manage` on 2377, swarm mode's dockerd on
 * 2376; both TLS with the cluster CA.
 */
export const managerDockerPort = (mode: "standalone" | "swarm"): number =>
  mode === "standalone" ? SWARM_PORT : DOCKER_TLS_PORT;

/** The flows of a cluster built from `spec`, in the order the docs list them. */
export function planFlows(spec: ClusterSpec): Flow[] {
  const operator = { operator: true } as const;
  const standalone = spec.swarm.mode === "standalone";
  const flows: Flow[] = [];
  const add = (f: Flow) => flows.push(f);

  for (const role of ["consul", "balancer", "manager", "host"] as const) {
    add({
      id: "operator-ssh",
      from: operator,
      to: role,
      protocol: "tcp",
      ports: single(22),
      why: "SSH: remote commands of `pulumi up` (install, certificates, boot checks) and operators",
    });
  }
  add({
    id: "operator-lb-api",
    from: operator,
    to: "balancer",
    protocol: "tcp",
    ports: single(spec.balancer.apiPort),
    why: "geoswarm-lb REST API: LbServer resources, operators",
  });
  spec.balancer.apiAllowedCidrs.forEach((cidr, i) => {
    add({
      id: "operator-lb-api",
      from: { clients: "the REST API", cidr, name: `api-clients-${i + 1}` },
      to: "balancer",
      protocol: "tcp",
      ports: single(spec.balancer.apiPort),
      why: "geoswarm-lb REST API (TLS) from balancer.apiAllowedCidrs: pulumi outside allowedCidr",
    });
  });
  add({
    id: "operator-consul-ui",
    from: operator,
    to: "balancer",
    protocol: "tcp",
    ports: single(CONSUL_HTTP_PORT),
    why: "Consul UI and API through the balancer's `consul` server",
  });
  add({
    id: "operator-docker-engines",
    from: operator,
    to: "host",
    protocol: "tcp",
    ports: single(DOCKER_TLS_PORT),
    why: "each host's own Docker TLS API (DockerHost.dockerHost), for operators",
  });
  add({
    id: "operator-docker-host",
    from: operator,
    to: "manager",
    protocol: "tcp",
    ports: single(standalone ? SWARM_PORT : DOCKER_TLS_PORT),
    why: "DOCKER_HOST: the Swarm manager's TLS API",
  });
  for (const e of spec.entryPoints) {
    add({
      id: `entry-${e.name}`,
      from: { clients: e.name, cidr: e.allowedCidr, name: `clients-${e.name}` },
      to: "balancer",
      protocol: "tcp",
      ports: single(e.lbPort),
      why: `entry point ${e.name} (${e.region}, containers labelled service=${e.serviceLabel})`,
    });
  }
  const labels = spec.balancer.labels;
  if (labels.enabled) {
    const [lo, hi] = labelPortRange(labels.portRange);
    const why: Record<Protocol, string> = {
      tcp: "entry points from container labels (geoswarm.lb.port, TCP) from balancer.labels.allowedCidrs",
      udp: "UDP entry points from container labels (geoswarm.lb.protocol=udp; balancer.labels.udp) from balancer.labels.allowedCidrs",
    };
    const protocols: Protocol[] = labels.udp ? ["tcp", "udp"] : ["tcp"];
    // Rules are named by their CIDR, not by position: removing or reordering a CIDR must not
    // turn one rule into a copy of another that is only deleted at the end of the run (AWS
    // refuses duplicate rules).
    for (const cidr of labels.allowedCidrs) {
      for (const protocol of protocols) {
        add({
          id: "labels-ports",
          from: { clients: "entry points from labels", cidr, name: `labels-clients-${slug(cidr)}` },
          to: "balancer",
          protocol,
          ports: [lo, hi],
          why: why[protocol],
        });
      }
    }
  }
  add({
    id: "balancer-published-ports",
    from: { role: "balancer" },
    to: "host",
    protocol: "tcp",
    ports: DOCKER_PUBLISHED_PORTS,
    why: "entry points' backends: the containers' published ports that docker discovery returns",
  });
  if (labels.enabled && labels.udp) {
    add({
      id: "balancer-published-ports-udp",
      from: { role: "balancer" },
      to: "host",
      protocol: "udp",
      ports: DOCKER_PUBLISHED_PORTS,
      why: "UDP entry points from labels: the containers' published UDP ports",
    });
  }
  // Swarm mode's manager is a node that is not drained: a labelled `docker run` against
  // DOCKER_HOST, or a labelled service's task, runs on it and the labels provider returns the
  // manager's address. Standalone's manager runs only `swarm manage`: its engine is no node of
  // the cluster, so nothing there is ever a backend.
  if (labels.enabled && !standalone) {
    const managerProtocols: Protocol[] = labels.udp ? ["tcp", "udp"] : ["tcp"];
    for (const protocol of managerProtocols) {
      add({
        id: "balancer-manager-published-ports",
        from: { role: "balancer" },
        to: "manager",
        protocol,
        ports: DOCKER_PUBLISHED_PORTS,
        why: `entry points from labels on the swarm-mode manager: its containers' and tasks' published ${protocol.toUpperCase()} ports`,
      });
    }
  }

  // Consul: the servers form their cluster; the balancer runs the one client agent.
  for (const from of ["consul", "balancer"] as const) {
    add({
      id: "consul-rpc-serf",
      from: { role: from },
      to: "consul",
      protocol: "tcp",
      ports: CONSUL_RPC_SERF_TCP,
      why: "Consul server RPC, serf LAN and WAN",
    });
    add({
      id: "consul-serf-udp",
      from: { role: from },
      to: "consul",
      protocol: "udp",
      ports: CONSUL_SERF_UDP,
      why: "Consul serf LAN and WAN gossip",
    });
  }
  add({
    id: "consul-http",
    from: { role: "balancer" },
    to: "consul",
    protocol: "tcp",
    ports: single(CONSUL_HTTP_PORT),
    why: "the balancer's `consul` server forwards Consul HTTP to the servers",
  });
  for (const protocol of ["tcp", "udp"] as const) {
    add({
      id: "consul-serf-agent",
      from: { role: "consul" },
      to: "balancer",
      protocol,
      ports: single(8301),
      why: "Consul serf LAN to the balancer's client agent",
    });
  }

  if (standalone) {
    for (const from of ["manager", "host"] as const) {
      add({
        id: "swarm-discovery-consul",
        from: { role: from },
        to: "balancer",
        protocol: "tcp",
        ports: single(CONSUL_HTTP_PORT),
        why: "standalone Swarm discovery: `consul://<balancer>:8500/swarmcluster`",
      });
    }
    add({
      id: "manager-engines",
      from: { role: "manager" },
      to: "host",
      protocol: "tcp",
      ports: single(DOCKER_TLS_PORT),
      why: "the standalone Swarm manager drives every engine's TLS API",
    });
    add({
      id: "balancer-docker-discovery",
      from: { role: "balancer" },
      to: "manager",
      protocol: "tcp",
      ports: single(SWARM_PORT),
      why: "docker discovery of the entry points against the Swarm manager",
    });
  } else {
    add({
      id: "swarm-management",
      from: { role: "host" },
      to: "manager",
      protocol: "tcp",
      ports: single(SWARM_PORT),
      why: "swarm mode: workers join and report to the manager",
    });
    for (const [from, to] of [
      ["host", "manager"],
      ["manager", "host"],
      ["host", "host"],
    ] as const) {
      add({
        id: "swarm-gossip-tcp",
        from: { role: from },
        to,
        protocol: "tcp",
        ports: single(7946),
        why: "swarm mode: node gossip",
      });
      add({
        id: "swarm-gossip-udp",
        from: { role: from },
        to,
        protocol: "udp",
        ports: single(7946),
        why: "swarm mode: node gossip",
      });
      add({
        id: "swarm-overlay",
        from: { role: from },
        to,
        protocol: "udp",
        ports: single(4789),
        why: "swarm mode: overlay network traffic (VXLAN)",
      });
    }
    add({
      id: "balancer-docker-discovery",
      from: { role: "balancer" },
      to: "manager",
      protocol: "tcp",
      ports: single(DOCKER_TLS_PORT),
      why: "docker discovery of the entry points against the swarm-mode manager",
    });
  }
  return flows;
}

const ROLE_TITLES: Record<Role, string> = {
  consul: "Consul servers",
  balancer: "balancer",
  manager: "Swarm manager",
  host: "Docker hosts",
};

function describeSource(s: FlowSource): string {
  if ("role" in s) return ROLE_TITLES[s.role];
  if ("operator" in s) return "operator (`ssh.allowedCidr`)";
  return `clients of ${s.clients} (\`${s.cidr}\`)`;
}

/**
 * The flows as a Markdown table (docs/deploy.md embeds it for the sample stack). Flows that
 * differ only in their destination role are one row.
 */
export function renderFlowTable(flows: Flow[]): string {
  const rows = new Map<string, { from: string; to: string[]; what: string; why: string }>();
  for (const f of flows) {
    const ports = f.ports[0] === f.ports[1] ? `${f.ports[0]}` : `${f.ports[0]}–${f.ports[1]}`;
    const what = `${f.protocol} ${ports}`;
    const from = describeSource(f.from);
    const key = `${from}|${what}|${f.why}`;
    const row = rows.get(key);
    if (row) {
      if (!row.to.includes(ROLE_TITLES[f.to])) row.to.push(ROLE_TITLES[f.to]);
    } else rows.set(key, { from, to: [ROLE_TITLES[f.to]], what, why: f.why });
  }
  const lines = ["| from | to | protocol, ports | why |", "| --- | --- | --- | --- |"];
  for (const r of rows.values()) {
    lines.push(`| ${r.from} | ${r.to.join(", ")} | ${r.what} | ${r.why} |`);
  }
  return `${lines.join("\n")}\n`;
}
