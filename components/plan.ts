// Pure planning from the validated spec: which machines exist where, and which security-group
// rules each region needs. Sources are machine names; RegionNetwork turns them into EIP /32s.
import type { ClusterSpec } from "./config";
import { type Protocol, planFlows } from "./flows";

/** What a machine is in the cluster; each role has its own security group. */
export type Role = "consul" | "balancer" | "manager" | "host";
export const ROLES: readonly Role[] = ["consul", "balancer", "manager", "host"];

/** A machine the cluster will have: its name, role and where it runs. */
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

/** Every machine a stack config asks for, control core first. */
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

export type { Protocol } from "./flows";

/** One ingress rule of a role's security group. */
export interface FirewallRule {
  /** Security group (by role) the rule belongs to. */
  role: Role;
  protocol: Protocol;
  fromPort: number;
  toPort: number;
  /**
   * A machine name (its EIP /32) or a literal CIDR. A CIDR source may carry a name that stays
   * when the CIDR changes (e.g. "operator"), so the rule is updated in place, not replaced.
   */
  source: { machine: string } | { cidr: string; name?: string };
  description: string;
  /** The flow (./flows.ts) this rule admits; absent for rules written by hand. */
  flow?: string;
}

/** AWS's default limit of inbound rules per security group. */
export const MAX_RULES_PER_GROUP = 60;

/** Characters EC2 accepts in a security-group rule description (API reference, IpRange). */
export const RULE_DESCRIPTION = /^[a-zA-Z0-9. _\-:/()#,@[\]+=&;{}!$*]{0,255}$/;

/** A flow's reason as a rule description: characters EC2 refuses are dropped or replaced. */
export function ruleDescription(why: string): string {
  return why
    .replace(/[–—]/g, "-")
    .replace(/[^a-zA-Z0-9. _\-:/()#,@[\]+=&;{}!$*]/g, "")
    .slice(0, 255);
}

/**
 * Inbound rules for every role, one per flow (./flows.ts) and source: a role's machines become
 * one rule per machine (its EIP /32), the operator network and entry-point clients their CIDR.
 * A machine never gets a rule for itself.
 */
export function planFirewall(spec: ClusterSpec): FirewallRule[] {
  const machines = planMachines(spec);
  const names = (role: Role) => machines.filter((m) => m.role === role).map((m) => m.name);
  const rules: FirewallRule[] = [];
  for (const f of planFlows(spec)) {
    const base = {
      role: f.to,
      protocol: f.protocol,
      fromPort: f.ports[0],
      toPort: f.ports[1],
      description: ruleDescription(f.why),
      flow: f.id,
    };
    if ("role" in f.from) {
      // Peers of the same role (Consul servers, hosts) admit each other: the group is shared.
      for (const machine of names(f.from.role)) rules.push({ ...base, source: { machine } });
    } else {
      const source =
        "operator" in f.from
          ? { cidr: spec.ssh.allowedCidr, name: "operator" }
          : { cidr: f.from.cidr, name: f.from.name };
      rules.push({ ...base, source });
    }
  }
  return rules;
}

/** Security-group rule counts per role, to check against MAX_RULES_PER_GROUP. */
export function rulesPerGroup(rules: FirewallRule[]): Record<Role, number> {
  const out: Record<Role, number> = { consul: 0, balancer: 0, manager: 0, host: 0 };
  for (const r of rules) out[r.role]++;
  return out;
}
