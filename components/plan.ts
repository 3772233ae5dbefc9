// Pure planning from the validated spec: which machines exist where, and which security-group
// rules each region needs. Sources are machine names; RegionNetwork turns them into EIP /32s.
import type { ClusterSpec } from "./config";

export type Role = "consul" | "balancer" | "manager" | "host";
export const ROLES: readonly Role[] = ["consul", "balancer", "manager", "host"];

export interface MachinePlan {
  name: string;
  role: Role;
  /** geoswarm region name. */
  region: string;
  awsRegion: string;
}

export const MANAGER_NAME = "swarm-manager";
export const BALANCER_NAME = "balancer";
export const consulServerName = (i: number): string => `consul-${i + 1}`;

export function planMachines(spec: ClusterSpec): MachinePlan[] {
  const core = spec.regions.find((r) => r.name === spec.coreRegion);
  if (!core) throw new Error(`core region ${spec.coreRegion} is not defined`);
  const inCore = (name: string, role: Role): MachinePlan => ({
    name,
    role,
    region: core.name,
    awsRegion: core.awsRegion,
  });
  return [
    ...Array.from({ length: spec.consul.servers }, (_, i) => inCore(consulServerName(i), "consul")),
    inCore(BALANCER_NAME, "balancer"),
    inCore(MANAGER_NAME, "manager"),
    ...spec.regions.flatMap((r) =>
      r.hosts.map(
        (h): MachinePlan => ({
          name: h.name,
          role: "host",
          region: r.name,
          awsRegion: r.awsRegion,
        }),
      ),
    ),
  ];
}

export type Protocol = "tcp" | "udp";

export interface FirewallRule {
  /** Security group (by role) the rule belongs to. */
  role: Role;
  protocol: Protocol;
  fromPort: number;
  toPort: number;
  /** A machine name (its EIP /32) or a literal CIDR. */
  source: { machine: string } | { cidr: string };
  description: string;
}

/** AWS's default limit of inbound rules per security group. */
export const MAX_RULES_PER_GROUP = 60;

const CONSUL_TCP: [number, number] = [8300, 8302];
const CONSUL_UDP: [number, number] = [8301, 8302];

/**
 * Inbound rules for every role. Cluster ports admit only cluster machines' EIPs; operator-facing
 * ports admit only ssh.allowedCidr; entry points admit their own allowedCidr.
 */
export function planFirewall(spec: ClusterSpec): FirewallRule[] {
  const machines = planMachines(spec);
  const names = (role: Role) => machines.filter((m) => m.role === role).map((m) => m.name);
  const rules: FirewallRule[] = [];
  const fromMachines = (
    role: Role,
    sources: string[],
    protocol: Protocol,
    ports: [number, number],
    description: string,
  ) => {
    for (const machine of sources) {
      rules.push({
        role,
        protocol,
        fromPort: ports[0],
        toPort: ports[1],
        source: { machine },
        description,
      });
    }
  };
  const operator = { cidr: spec.ssh.allowedCidr };
  const fromOperator = (role: Role, port: number, description: string) =>
    rules.push({
      role,
      protocol: "tcp",
      fromPort: port,
      toPort: port,
      source: operator,
      description,
    });

  for (const role of ROLES) fromOperator(role, 22, "SSH from the operator network");

  // Consul servers: RPC and serf between servers and the balancer's client agent; HTTP only
  // from the balancer, which fronts the servers for everyone else.
  const consulPeers = [...names("consul"), BALANCER_NAME];
  fromMachines("consul", consulPeers, "tcp", CONSUL_TCP, "Consul RPC and serf (tcp)");
  fromMachines("consul", consulPeers, "udp", CONSUL_UDP, "Consul serf (udp)");
  fromMachines("consul", [BALANCER_NAME], "tcp", [8500, 8500], "Consul HTTP via the balancer");

  // Balancer: serf from the servers to its client agent; the consul front door for the cluster.
  fromMachines("balancer", names("consul"), "tcp", [8301, 8301], "Consul serf LAN (tcp)");
  fromMachines("balancer", names("consul"), "udp", [8301, 8301], "Consul serf LAN (udp)");
  fromMachines(
    "balancer",
    [MANAGER_NAME, ...names("host")],
    "tcp",
    [8500, 8500],
    "Consul via the balancer",
  );
  fromOperator("balancer", 8500, "Consul UI/API via the balancer");
  fromOperator("balancer", spec.balancer.apiPort, "geoswarm-lb REST API");
  for (const e of spec.entryPoints) {
    rules.push({
      role: "balancer",
      protocol: "tcp",
      fromPort: e.lbPort,
      toPort: e.lbPort,
      source: { cidr: e.allowedCidr },
      description: `Entry point ${e.name}`,
    });
  }

  if (spec.swarm.mode === "standalone") {
    // The manager dials every engine's TLS API; clients and the balancer's docker discovery
    // reach the manager's TLS API on 2377.
    fromMachines(
      "host",
      [MANAGER_NAME],
      "tcp",
      [2376, 2376],
      "Docker TLS API from the Swarm manager",
    );
    fromMachines("manager", [BALANCER_NAME], "tcp", [2377, 2377], "Swarm API for docker discovery");
    fromOperator("manager", 2377, "Swarm API (DOCKER_HOST)");
  } else {
    const swarmNodes = [MANAGER_NAME, ...names("host")];
    fromMachines("manager", names("host"), "tcp", [2377, 2377], "Swarm cluster management");
    for (const role of ["manager", "host"] as const) {
      const peers = swarmNodes.filter((n) => role !== "manager" || n !== MANAGER_NAME);
      fromMachines(role, peers, "tcp", [7946, 7946], "Swarm node gossip (tcp)");
      fromMachines(role, peers, "udp", [7946, 7946], "Swarm node gossip (udp)");
      fromMachines(role, peers, "udp", [4789, 4789], "Swarm overlay (VXLAN)");
    }
    fromMachines(
      "manager",
      [BALANCER_NAME],
      "tcp",
      [2376, 2376],
      "Docker TLS API for docker discovery",
    );
    fromOperator("manager", 2376, "Docker TLS API (DOCKER_HOST)");
  }
  return rules;
}

/** Security-group rule counts per role, to check against MAX_RULES_PER_GROUP. */
export function rulesPerGroup(rules: FirewallRule[]): Record<Role, number> {
  const out: Record<Role, number> = { consul: 0, balancer: 0, manager: 0, host: 0 };
  for (const r of rules) out[r.role]++;
  return out;
}
