// The planned security groups as packet filters: each machine's namespace gets the ingress rules
// of the groups its instance is in, translated from the recorded aws:vpc/securityGroupIngressRule
// inputs (sources are Elastic IPs, i.e. namespace addresses, or the configured CIDRs).
//
// Where: the mangle table's PREROUTING on the namespace's interface (eth0). That is after
// conntrack (so the filter is stateful: established and related traffic passes) and before the
// nat table's DNAT, so a container's published port is filtered by the port the client sent to,
// as a security group filters at the instance's interface. Loopback and Docker's own bridges
// inside the namespace are not filtered (nothing crosses a security group there either).
// Egress is open, as the program's egress rule says.
import type { Machine } from "./machines";
import { run } from "./machines";

const CHAIN = "GEOSWARM-SG";

export interface AppliedRule {
  /** The SecurityGroupIngressRule resource's name (the rule id). */
  id: string;
  group: string;
  machine: string;
  protocol: string;
  ports: string;
  source: string;
  /** The rule's description: the planned flow's reason. */
  why: string;
}

interface Rule {
  id: string;
  group: string;
  protocol: string;
  from: number;
  to: number;
  cidr: string;
  why: string;
}

export class Firewall {
  private readonly rules: Rule[] = [];
  private readonly attached = new Map<string, { m: Machine; groups: string[] }>();
  readonly applied: AppliedRule[] = [];

  /** A rule of group `group` (the security group's resource name); applied to every member. */
  async addRule(id: string, inputs: Record<string, any>, group: string): Promise<void> {
    if (this.rules.some((r) => r.id === id)) return;
    const protocol = String(inputs.ipProtocol);
    if (!["tcp", "udp"].includes(protocol))
      throw new Error(
        `firewall: rule ${id}: protocol ${protocol} is not translated (tcp and udp are)`,
      );
    if (!inputs.cidrIpv4)
      throw new Error(`firewall: rule ${id} has no cidrIpv4 (got ${JSON.stringify(inputs)})`);
    const rule: Rule = {
      id,
      group,
      protocol,
      from: Number(inputs.fromPort),
      to: Number(inputs.toPort),
      cidr: String(inputs.cidrIpv4),
      why: String(inputs.description ?? ""),
    };
    this.rules.push(rule);
    for (const { m, groups } of this.attached.values())
      if (groups.includes(group)) await this.apply(m, rule);
  }

  /** Installs the filter of a machine in `groups` (before anything on it runs). */
  async attach(m: Machine, groups: string[]): Promise<void> {
    this.attached.set(m.name, { m, groups });
    const ipt = (...args: string[]) => iptables(m, args);
    await ipt("-N", CHAIN);
    await ipt("-A", CHAIN, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT");
    await ipt("-A", "PREROUTING", "-i", "eth0", "-j", CHAIN);
    await ipt(
      "-A",
      "PREROUTING",
      "-i",
      "eth0",
      "-m",
      "comment",
      "--comment",
      "geoswarm: not in a planned flow",
      "-j",
      "DROP",
    );
    for (const r of this.rules.filter((x) => groups.includes(x.group))) await this.apply(m, r);
  }

  private async apply(m: Machine, r: Rule): Promise<void> {
    const ports = r.from === r.to ? `${r.from}` : `${r.from}:${r.to}`;
    await iptables(m, [
      "-A",
      CHAIN,
      "-s",
      r.cidr,
      "-p",
      r.protocol,
      "--dport",
      ports,
      "-m",
      "comment",
      "--comment",
      r.id.slice(0, 255),
      "-j",
      "ACCEPT",
    ]);
    this.applied.push({
      id: r.id,
      group: r.group,
      machine: m.name,
      protocol: r.protocol,
      ports: ports.replace(":", "-"),
      source: r.cidr,
      why: r.why,
    });
  }

  /** Packets dropped by the final rule of machine `name` so far. */
  async dropped(m: Machine): Promise<number> {
    const r = await run("nsenter", [
      `--net=/run/netns/${m.netns}`,
      "iptables",
      "-w",
      "-t",
      "mangle",
      "-L",
      "PREROUTING",
      "-v",
      "-x",
      "-n",
    ]);
    const line = r.stdout.split("\n").find((l) => l.includes("DROP"));
    return line ? Number(line.trim().split(/\s+/)[0]) : 0;
  }

  /**
   * The applied rules as a table, one row per rule: flow (the rule's description, i.e. the planned
   * flow's reason), source (with who owns it), destination (the group's machines) and port, rule id.
   */
  table(names: Map<string, string>): string {
    const byRule = new Map<string, AppliedRule & { machines: string[] }>();
    for (const a of this.applied) {
      const row = byRule.get(a.id) ?? { ...a, machines: [] };
      row.machines.push(a.machine);
      byRule.set(a.id, row);
    }
    const rows = [...byRule.values()]
      .sort(
        (x, y) =>
          x.group.localeCompare(y.group) || x.why.localeCompare(y.why) || x.id.localeCompare(y.id),
      )
      .map((a) => [
        a.why.length > 48 ? `${a.why.slice(0, 47)}…` : a.why,
        `${a.source}${names.get(a.source) ? ` (${names.get(a.source)})` : ""}`,
        `${a.machines.sort().join(",")} ${a.protocol}/${a.ports}`,
        a.id,
      ]);
    const head = ["flow", "source", "destination port", "rule id"];
    const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) =>
      cells
        .map((c, i) => c.padEnd(width[i]))
        .join("  ")
        .trimEnd();
    return [line(head), line(width.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
  }

  /** How many rules (resources) and iptables rules (rule × machine) were applied. */
  counts(): { rules: number; iptables: number } {
    return { rules: new Set(this.applied.map((a) => a.id)).size, iptables: this.applied.length };
  }
}

async function iptables(m: Machine, args: string[]): Promise<void> {
  const r = await run("nsenter", [
    `--net=/run/netns/${m.netns}`,
    "iptables",
    "-w",
    "-t",
    "mangle",
    ...args,
  ]);
  if (r.code !== 0)
    throw new Error(`firewall on ${m.name}: iptables ${args.join(" ")}: ${r.stderr.trim()}`);
}
