// What a real `pulumi up` / `pulumi destroy` depends on beyond each resource's inputs: which
// traffic the security groups admit between the machines the program creates, and the edges the
// engine orders creates and deletes by (dependsOn, deletedWith, parent, protect). No engine and
// no AWS exist here: the program runs under mocks (support/program.ts) and the engine's contract
// is applied to the recorded graph: a resource is created after, and deleted before, everything
// in its dependencies; a resource whose deletedWith target is being deleted is not deleted itself.
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import ipaddr from "ipaddr.js";
import { beforeAll, describe, expect, it } from "vitest";
import { parseClusterSpec } from "../../components/config";
import { DOCKER_PUBLISHED_PORTS, planFlows, renderFlowTable } from "../../components/flows";
import { fakeIp, type Recorded } from "./support/mocks";
import { runProgram } from "./support/program";
import { ROOT, readStackFile } from "./support/stack";

const INSTANCE = "aws:ec2/instance:Instance";
const EIP = "aws:ec2/eip:Eip";
const INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";
const LB_SERVER = "pulumi-nodejs:dynamic/geoswarm:LbServer";
const REMOTE_COMMAND = "command:remote:Command";
const COPY = "command:remote:CopyToRemote";

/** The machines, their addresses and the security-group rules of one mocked run. */
class Graph {
  constructor(readonly recorded: Recorded[]) {}
  byType = (t: string) => this.recorded.filter((r) => r.type === t);
  one(t: string, name: string): Recorded {
    const found = this.recorded.filter((r) => r.type === t && r.name === name);
    expect(found, `${t} ${name}`).toHaveLength(1);
    return found[0];
  }
  byUrn = (urn: string) => this.recorded.find((r) => r.urn === urn);

  /** Machine name (its EIP's) → { role, its security group's id, its EIP }, via the associations. */
  machines(): Map<string, { role: string; sg: string; ip: string }> {
    const out = new Map<string, { role: string; sg: string; ip: string }>();
    for (const vm of this.byType(INSTANCE)) {
      const assoc = this.byType("aws:ec2/eipAssociation:EipAssociation").find(
        (a) => a.inputs.instanceId === `${vm.name}-id`,
      );
      const eip = this.byType(EIP).find((e) => assoc?.inputs.allocationId === `eipalloc-${e.name}`);
      expect(eip, `EIP of ${vm.name}`).toBeDefined();
      expect(vm.inputs.vpcSecurityGroupIds, vm.name).toHaveLength(1);
      out.set(eip?.inputs.tags.Name, {
        role: vm.inputs.tags["geoswarm:role"],
        sg: vm.inputs.vpcSecurityGroupIds[0],
        ip: fakeIp(eip?.name ?? ""),
      });
    }
    return out;
  }

  /** Does some ingress rule on `machine`'s group admit `sourceIp` on protocol/port? */
  admits(machine: string, sourceIp: string, protocol: string, port: number): boolean {
    const m = this.machines().get(machine);
    if (!m) throw new Error(`no machine ${machine}`);
    const src = ipaddr.parse(sourceIp);
    return this.byType(INGRESS).some((r) => {
      const i = r.inputs;
      if (i.securityGroupId !== m.sg) return false;
      if (i.ipProtocol !== protocol && i.ipProtocol !== "-1") return false;
      if (port < i.fromPort || port > i.toPort) return false;
      const [net, bits] = ipaddr.parseCIDR(i.cidrIpv4);
      return src.kind() === net.kind() && src.match(net, bits);
    });
  }
}

// Pulumi.prod.yaml ships placeholders that the program refuses; a user's values stand in.
const testSsh = (c: Record<string, any>) => {
  c.ssh.allowedCidr = "100.64.10.0/24";
  c.ssh.publicKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJ geoswarm-ci";
};
const OPERATOR = "100.64.10.7";

describe.each([
  ["standalone Swarm", (_c: Record<string, any>) => {}],
  [
    "swarm mode",
    (c: Record<string, any>) => {
      c.swarm = { ...c.swarm, mode: "swarm" };
    },
  ],
  [
    // Labels add flows of their own, the swarm-mode manager's published ports among them.
    "swarm mode with labels, TCP and UDP",
    (c: Record<string, any>) => {
      c.swarm = { ...c.swarm, mode: "swarm" };
      c.balancer = {
        ...c.balancer,
        labels: { enabled: true, udp: true, allowedCidrs: ["100.66.0.0/16"] },
      };
    },
  ],
] as const)("network flows on the mocked graph (%s)", (mode, mutate) => {
  let g: Graph;
  let spec: ReturnType<typeof parseClusterSpec>;
  beforeAll(async () => {
    const run = await runProgram((c) => {
      testSsh(c);
      mutate(c);
    });
    g = new Graph(run.recorded);
    const raw = structuredClone(readStackFile()) as Record<string, any>;
    testSsh(raw);
    mutate(raw);
    spec = parseClusterSpec(raw);
  });

  it("admits every flow of the table between the machines the program creates", () => {
    const machines = g.machines();
    expect(machines.size).toBe(10);
    let checked = 0;
    for (const f of planFlows(spec)) {
      const sources: { name?: string; ip: string }[] =
        "role" in f.from
          ? [...machines]
              .filter(([, m]) => m.role === (f.from as { role: string }).role)
              .map(([name, m]) => ({ name, ip: m.ip }))
          : "operator" in f.from
            ? [{ ip: OPERATOR }]
            : [
                {
                  ip:
                    f.from.cidr === "0.0.0.0/0"
                      ? "198.18.7.7"
                      : ipaddr.parseCIDR(f.from.cidr)[0].toString(),
                },
              ];
      const targets = [...machines].filter(([, m]) => m.role === f.to);
      expect(sources.length * targets.length, f.id).toBeGreaterThan(0);
      for (const s of sources) {
        for (const [target] of targets) {
          if (s.name === target) continue;
          for (const port of new Set(f.ports)) {
            expect(
              g.admits(target, s.ip, f.protocol, port),
              `${f.id}: ${s.name ?? s.ip} -> ${target} ${f.protocol}/${port}`,
            ).toBe(true);
            checked++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(50);
  });

  it("lets the balancer reach every host's published container ports (docker discovery's backends)", () => {
    const machines = g.machines();
    const lb = machines.get("balancer")?.ip as string;
    const hosts = [...machines].filter(([, m]) => m.role === "host");
    expect(hosts).toHaveLength(5);
    for (const [host] of hosts) {
      for (const port of [DOCKER_PUBLISHED_PORTS[0], 40000, DOCKER_PUBLISHED_PORTS[1]]) {
        expect(g.admits(host, lb, "tcp", port), `${host}:${port}`).toBe(true);
      }
      // ...and no one else: the published ports are not open to the world or the operator.
      expect(g.admits(host, OPERATOR, "tcp", 40000), host).toBe(false);
      expect(g.admits(host, "198.18.7.7", "tcp", 40000), host).toBe(false);
    }
  });

  it("gives the balancer's `consul` server the same sources as its security group (swarm mode: the operator only)", async () => {
    // A StringAsset's text is a promise in the recorded inputs.
    const config: string = await g.one(COPY, "lb-copy-config").inputs.source.text;
    const rules = [...config.matchAll(/"allow ([^"]+)"/g)].map((m) => m[1]).sort();
    const machines = g.machines();
    const expected = ["100.64.10.0/24"];
    if (mode === "standalone Swarm") {
      for (const [, m] of machines)
        if (m.role === "host" || m.role === "manager") expected.push(`${m.ip}/32`);
    }
    expect(rules).toEqual(expected.sort());
  });

  it("opens nothing to 0.0.0.0/0 except the entry points' ports on the balancer", () => {
    const machines = g.machines();
    const lbSg = machines.get("balancer")?.sg;
    const open = g.byType(INGRESS).filter((r) => r.inputs.cidrIpv4 === "0.0.0.0/0");
    expect(open.map((r) => [r.inputs.securityGroupId, r.inputs.fromPort, r.inputs.toPort])).toEqual(
      spec.entryPoints
        .filter((e) => e.allowedCidr === "0.0.0.0/0")
        .map((e) => [lbSg, e.lbPort, e.lbPort]),
    );
    expect(mode).toBeTruthy();
  });
});

describe("engine edges: create and destroy order, protection", () => {
  let g: Graph;
  beforeAll(async () => {
    g = new Graph((await runProgram(testSsh)).recorded);
  });

  const dependsOn = (r: Recorded, target: Recorded) =>
    (r.options?.dependencies ?? []).includes(target.urn as string);
  const apiRule = () =>
    g
      .byType(INGRESS)
      .find(
        (r) => r.inputs.fromPort === 8888 && r.inputs.cidrIpv4 === "100.64.10.0/24",
      ) as Recorded;

  it("deletes each LbServer before the operator's API rule (destroy can reach the API)", () => {
    const servers = g.byType(LB_SERVER);
    expect(servers.map((s) => s.name).sort()).toEqual(["r1nginx", "r2nginx"]);
    expect(apiRule()).toBeDefined();
    for (const s of servers) expect(dependsOn(s, apiRule()), s.name).toBe(true);
  });

  it("skips the LbServer deletes when the balancer instance goes (deletedWith), and parents them to the Balancer", () => {
    const vm = g.one(INSTANCE, "lb-vm");
    const balancer = g.one("geoswarm:index:Balancer", "lb");
    for (const s of g.byType(LB_SERVER)) {
      expect(s.options?.deletedWith, s.name).toBe(vm.urn);
      expect(s.options?.parent, s.name).toBe(balancer.urn);
    }
  });

  it("runs every remote command after the SSH rule of its machine exists (and so before it is revoked)", () => {
    const machines = g.machines();
    const byIp = new Map([...machines].map(([name, m]) => [m.ip, { name, ...m }]));
    const reaches = (from: Recorded, target: string): boolean => {
      const seen = new Set<string>();
      const stack = [...(from.options?.dependencies ?? [])];
      while (stack.length > 0) {
        const urn = stack.pop() as string;
        if (urn === target) return true;
        if (seen.has(urn)) continue;
        seen.add(urn);
        stack.push(...(g.byUrn(urn)?.options?.dependencies ?? []));
      }
      return false;
    };
    const commands = [...g.byType(REMOTE_COMMAND), ...g.byType(COPY)];
    const onMachines = new Set<string>();
    for (const c of commands) {
      const m = byIp.get(c.inputs.connection.host);
      expect(m, `${c.name} connects to ${c.inputs.connection.host}`).toBeDefined();
      const rule = g
        .byType(INGRESS)
        .find(
          (r) =>
            r.inputs.fromPort === 22 &&
            r.inputs.cidrIpv4 === "100.64.10.0/24" &&
            r.inputs.securityGroupId === m?.sg,
        ) as Recorded;
      expect(reaches(c, rule.urn as string), `${c.name} on ${m?.name}`).toBe(true);
      onMachines.add(m?.name as string);
    }
    // Every machine gets at least its boot check over SSH.
    expect(onMachines.size).toBe(machines.size);
  });

  it("writes the configured SSH keys on every machine, the balancer included (key rotation reaches all)", () => {
    const machines = g.machines();
    const byIp = new Map([...machines].map(([name, m]) => [m.ip, name]));
    const withKeys = g
      .byType(REMOTE_COMMAND)
      .filter((c) => c.name.endsWith("-ssh-keys"))
      .map((c) => {
        expect(c.inputs.create, c.name).toContain("AAAAC3NzaC1lZDI1NTE5AAAAIAkJ");
        return byIp.get(c.inputs.connection.host);
      });
    expect(new Set(withKeys)).toEqual(new Set(machines.keys()));
  });

  it("bounds every remote step: a timeout on create and update, a finite number of SSH dials", () => {
    const steps = [...g.byType(REMOTE_COMMAND), ...g.byType(COPY)];
    expect(steps.length).toBeGreaterThan(20);
    for (const c of steps) {
      expect(c.options?.customTimeouts.create, c.name).toMatch(/^\d+m$/);
      expect(c.options?.customTimeouts.update, c.name).toMatch(/^\d+m$/);
      expect(c.inputs.connection.dialErrorLimit, c.name).toBeGreaterThan(0);
    }
  });

  it("protects every Elastic IP by default (geoswarm:elasticIps = protect)", () => {
    const eips = g.byType(EIP);
    expect(eips).toHaveLength(10);
    for (const e of eips) {
      expect(e.options?.protect, e.name).toBe(true);
      expect(e.options?.retainOnDelete, e.name).toBe(false);
    }
  });

  it("retains or releases them when the stack says so", async () => {
    for (const [policy, protect, retain] of [
      ["retain", false, true],
      ["release", false, false],
    ] as const) {
      const run = await runProgram((c) => {
        testSsh(c);
        c.elasticIps = policy;
      });
      for (const e of run.recorded.filter((r) => r.type === EIP)) {
        expect([e.options?.protect, e.options?.retainOnDelete], `${policy} ${e.name}`).toEqual([
          protect,
          retain,
        ]);
      }
    }
  });
});

describe("pulumi outside allowedCidr: a bastion for SSH, the API opened to the runner", () => {
  it("sends every remote command through ssh.bastion and admits balancer.apiAllowedCidrs to the API only", async () => {
    const run = await runProgram((c) => {
      testSsh(c);
      c.ssh.bastion = { host: "100.64.10.5", user: "jump" };
      c.balancer = { ...c.balancer, apiAllowedCidrs: ["100.72.0.0/16"] };
    });
    const g = new Graph(run.recorded);
    const commands = [...g.byType(REMOTE_COMMAND), ...g.byType(COPY)];
    expect(commands.length).toBeGreaterThan(10);
    for (const c of commands) {
      expect(c.inputs.connection.proxy, c.name).toMatchObject({
        host: "100.64.10.5",
        port: 22,
        user: "jump",
      });
      expect(c.inputs.connection.proxy.privateKey, c.name).toBe(c.inputs.connection.privateKey);
    }
    const lb = "balancer";
    expect(g.admits(lb, "100.72.3.4", "tcp", 8888)).toBe(true);
    expect(g.admits(lb, "100.72.3.4", "tcp", 22)).toBe(false);
    expect(g.admits(lb, "100.72.3.4", "tcp", 8500)).toBe(false);
  });
});

describe("balancer: reload for server changes, restart for the rest", () => {
  const restartKey = (recorded: Recorded[]) => {
    const install = new Graph(recorded).one(REMOTE_COMMAND, "lb-install");
    return /^restart_key='([0-9a-f]{64})'$/m.exec(install.inputs.create)?.[1];
  };
  it("keeps the restart key when a host is added (only the consul server's access rules change) and changes it with the API port", async () => {
    const before = await runProgram(testSsh);
    const key = restartKey(before.recorded);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    const config = (r: Recorded[]) =>
      new Graph(r).one(COPY, "lb-copy-config").inputs.source.text as string;
    const withHost = await runProgram((c) => {
      testSsh(c);
      c.regions[1].hosts.push({ name: "r2-host-3", instanceType: "t3.medium" });
    });
    // The config did change (the new host may use the `consul` server), so the install runs...
    expect(config(withHost.recorded)).not.toBe(config(before.recorded));
    // ...but as a reload: established connections and the entry points stay.
    expect(restartKey(withHost.recorded)).toBe(key);
    const newPort = await runProgram((c) => {
      testSsh(c);
      c.balancer = { ...c.balancer, apiPort: 8899 };
    });
    expect(restartKey(newPort.recorded)).not.toBe(key);
  });
});

describe("docs/deploy.md", () => {
  it.each(["standalone", "swarm"] as const)(
    "shows the flow table of the sample stack in %s mode as the program plans it",
    (mode) => {
      const raw = structuredClone(readStackFile()) as Record<string, any>;
      testSsh(raw);
      raw.swarm = { ...raw.swarm, mode };
      const table = renderFlowTable(planFlows(parseClusterSpec(raw)));
      const file = path.join(ROOT, "docs", "deploy.md");
      const doc = readFileSync(file, "utf8");
      const block = new RegExp(
        `(<!-- flows:${mode}:begin -->\n)([\\s\\S]*?)(<!-- flows:${mode}:end -->)`,
      );
      if (process.env.UPDATE_GOLDEN) writeFileSync(file, doc.replace(block, `$1${table}$3`));
      const m = block.exec(readFileSync(file, "utf8"));
      expect(m, `docs/deploy.md has a <!-- flows:${mode}:begin --> block`).not.toBeNull();
      expect(m?.[2], "regenerate with UPDATE_GOLDEN=1").toBe(table);
    },
  );
});
