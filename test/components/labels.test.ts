// Entry points from container labels on the deploy side (issue 15): the `geoswarm:balancer.labels`
// switch (components/config.ts), its flows and security-group rules (flows.ts → planFirewall →
// RegionNetwork), and the `[providers.docker]` section the Balancer ships, on the mocked program.
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "smol-toml";
import { beforeAll, describe, expect, it } from "vitest";
import { parseClusterSpec } from "../../components/config";
import { planFlows, renderFlowTable } from "../../components/flows";
import { planFirewall } from "../../components/plan";
import { fakeIp, type Recorded } from "./support/mocks";
import { type ProgramRun, runProgram } from "./support/program";
import { prodConfig, ROOT, specProblems } from "./support/stack";

const INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";
const COPY = "command:remote:CopyToRemote";

const withLabels = (labels: unknown, more: Record<string, unknown> = {}) => {
  const raw = prodConfig();
  return { ...raw, balancer: { ...(raw.balancer as object), labels, ...more } };
};

describe("geoswarm:balancer.labels (stack config)", () => {
  it("is off by default, with the documented defaults", () => {
    expect(parseClusterSpec(prodConfig()).balancer.labels).toEqual({
      enabled: false,
      portRange: "20000-20999",
      allowedCidrs: ["0.0.0.0/0"],
      drainGrace: "30s",
      udp: false,
    });
    expect(parseClusterSpec(withLabels({ enabled: true })).balancer.labels.enabled).toBe(true);
  });

  it("refuses malformed fields, naming the key, the value and what was expected", () => {
    const one = (labels: unknown) => specProblems(withLabels(labels)).join("\n");
    expect(one({ enabled: true, portRange: "20000" })).toContain(
      'geoswarm:balancer.labels.portRange: must be "low-high", inclusive, such as "20000-20999"',
    );
    expect(one({ enabled: true, portRange: "21000-20000" })).toContain(
      "geoswarm:balancer.labels.portRange: must have 1 <= low <= high <= 65535",
    );
    expect(one({ enabled: true, portRange: "20000-70000" })).toContain("<= 65535");
    expect(one({ enabled: true, allowedCidrs: [] })).toContain(
      "geoswarm:balancer.labels.allowedCidrs: needs at least one CIDR",
    );
    expect(one({ enabled: true, allowedCidrs: ["203.0.113.0/24"] })).toContain(
      "geoswarm:balancer.labels.allowedCidrs[0]: 203.0.113.0/24 is in the documentation range",
    );
    expect(one({ enabled: true, drainGrace: "30" })).toContain(
      "geoswarm:balancer.labels.drainGrace: must be a Go duration",
    );
    expect(one({ enabled: "yes" })).toContain("geoswarm:balancer.labels.enabled");
    expect(one({ enabled: true, port_range: "1-2" })).toContain(
      "geoswarm:balancer.labels.port_range: unknown key",
    );
  });

  it.each([
    ["20-30", 22, "SSH"],
    ["8000-8999", 8888, "the REST API (geoswarm:balancer.apiPort)"],
    ["8000-8999", 8500, "the balancer's Consul agent and `consul` server"],
    ["18000-18999", 18500, "the balancer's Consul agent and `consul` server"],
    ["9000-9999", 9284, "geoswarm-lb's metrics"],
    ["22000-22999", 22001, "entry point r1nginx (geoswarm:entryPoints[0].lbPort)"],
  ])("refuses a range %s that contains port %i (%s)", (portRange, port, what) => {
    expect(specProblems(withLabels({ enabled: true, portRange }))).toContain(
      `geoswarm:balancer.labels.portRange: "${portRange}" contains port ${port}, used by ${what}; expected a range without it`,
    );
  });

  it("refuses a range overlapping the ephemeral ports 32768-60999 (Docker's published ports)", () => {
    expect(specProblems(withLabels({ enabled: true, portRange: "30000-32768" }))).toEqual([
      expect.stringContaining(
        'geoswarm:balancer.labels.portRange: "30000-32768" overlaps 32768-60999, the kernel\'s ephemeral ports',
      ),
    ]);
    expect(specProblems(withLabels({ enabled: true, portRange: "60999-61000" }))).toHaveLength(1);
    expect(parseClusterSpec(withLabels({ enabled: true, portRange: "61000-61100" }))).toBeTruthy();
  });

  it("checks the range against the API port as configured, and only when enabled", () => {
    expect(
      specProblems(withLabels({ enabled: true, portRange: "20000-20999" }, { apiPort: 20500 })),
    ).toEqual([
      'geoswarm:balancer.labels.portRange: "20000-20999" contains port 20500, used by the REST API (geoswarm:balancer.apiPort); expected a range without it',
    ]);
    // Off, the range is not used: nothing to refuse.
    expect(parseClusterSpec(withLabels({ enabled: false, portRange: "22000-22999" }))).toBeTruthy();
  });
});

describe("flows and firewall plan", () => {
  const labelRules = (labels: unknown) =>
    planFirewall(parseClusterSpec(withLabels(labels))).filter((r) => r.flow === "labels-ports");

  it("opens the range on the balancer only when enabled, only to the configured clients, TCP; UDP only with labels.udp", () => {
    expect(labelRules({ enabled: false })).toEqual([]);
    const labels = {
      enabled: true,
      portRange: "21000-21099",
      allowedCidrs: ["100.64.0.0/16", "100.65.1.0/24"],
    };
    const rows = (l: unknown) =>
      labelRules(l)
        .map((r) => [r.role, r.protocol, r.fromPort, r.toPort, r.source])
        .sort();
    const tcp = [
      [
        "balancer",
        "tcp",
        21000,
        21099,
        { cidr: "100.64.0.0/16", name: "labels-clients-100-64-0-0-16" },
      ],
      [
        "balancer",
        "tcp",
        21000,
        21099,
        { cidr: "100.65.1.0/24", name: "labels-clients-100-65-1-0-24" },
      ],
    ];
    expect(rows(labels)).toEqual(tcp.sort());
    expect(rows({ ...labels, udp: false })).toEqual(tcp.sort());
    expect(rows({ ...labels, udp: true })).toEqual(
      [
        ...tcp,
        [
          "balancer",
          "udp",
          21000,
          21099,
          { cidr: "100.64.0.0/16", name: "labels-clients-100-64-0-0-16" },
        ],
        [
          "balancer",
          "udp",
          21000,
          21099,
          { cidr: "100.65.1.0/24", name: "labels-clients-100-65-1-0-24" },
        ],
      ].sort(),
    );
  });

  it("names each client rule by its CIDR, so removing or reordering CIDRs never turns one rule into a copy of another", () => {
    const names = (allowedCidrs: string[]) =>
      labelRules({ enabled: true, allowedCidrs }).map((r) =>
        "cidr" in r.source ? r.source.name : "",
      );
    const [a, b] = ["100.64.0.0/16", "100.65.1.0/24"];
    const both = names([a, b]);
    // With positional names, [b] would rename b's rule to a's (an in-place edit to a rule that
    // still exists as the second one until the end of the run: AWS refuses the duplicate).
    expect(names([b])).toEqual([both[1]]);
    expect(names([b, a])).toEqual([both[1], both[0]]);
  });

  it("refuses a client CIDR listed twice (AWS refuses the second, identical rule)", () => {
    expect(
      specProblems(withLabels({ enabled: true, allowedCidrs: ["100.64.0.0/16", "100.64.0.0/16"] })),
    ).toEqual([
      'geoswarm:balancer.labels.allowedCidrs[1]: labels client CIDR "100.64.0.0/16" is already used by geoswarm:balancer.labels.allowedCidrs[0]',
    ]);
  });

  it("lets the balancer reach the hosts' published UDP ports only with labels.udp", () => {
    const udp = (labels: unknown) =>
      planFlows(parseClusterSpec(withLabels(labels))).filter(
        (f) =>
          f.to === "host" && f.protocol === "udp" && "role" in f.from && f.from.role === "balancer",
      );
    expect(udp({ enabled: false })).toEqual([]);
    expect(udp({ enabled: false, udp: true })).toEqual([]);
    expect(udp({ enabled: true })).toEqual([]);
    expect(udp({ enabled: true, udp: true }).map((f) => [f.id, f.ports])).toEqual([
      ["balancer-published-ports-udp", [32768, 60999]],
    ]);
  });

  it("lets the balancer reach the swarm-mode manager's published ports with labels (UDP only with labels.udp); never the standalone manager", () => {
    const toManager = (mode: string, labels: unknown) =>
      planFirewall(
        parseClusterSpec({ ...withLabels(labels), swarm: { ...prodConfig().swarm, mode } }),
      )
        .filter((r) => r.role === "manager" && r.fromPort === 32768)
        .map((r) => [r.flow, r.protocol, r.fromPort, r.toPort, r.source]);
    const rule = (protocol: string) => [
      "balancer-manager-published-ports",
      protocol,
      32768,
      60999,
      { machine: "balancer" },
    ];
    expect(toManager("swarm", { enabled: false })).toEqual([]);
    expect(toManager("swarm", { enabled: false, udp: true })).toEqual([]);
    expect(toManager("swarm", { enabled: true })).toEqual([rule("tcp")]);
    expect(toManager("swarm", { enabled: true, udp: true })).toEqual([rule("tcp"), rule("udp")]);
    // Standalone: the manager's engine runs `swarm manage` and is no node of the cluster.
    expect(toManager("standalone", { enabled: true, udp: true })).toEqual([]);
  });
});

// Pulumi.prod.yaml ships placeholders that the program refuses; a user's values stand in.
const testSsh = (c: Record<string, any>) => {
  c.ssh.allowedCidr = "100.64.10.0/24";
};

async function configOf(run: ProgramRun): Promise<Record<string, any>> {
  const copy = run.recorded.find((r) => r.type === COPY && r.name === "lb-copy-config");
  return parse(await (copy as Recorded).inputs.source.text) as Record<string, any>;
}
const managerIp = (run: ProgramRun) =>
  run.recorded.find((r) => r.type === "aws:ec2/eip:Eip" && r.inputs.tags?.Name === "swarm-manager");

describe.each(["standalone", "swarm"] as const)("the mocked program (%s Swarm)", (mode) => {
  let off: ProgramRun;
  let on: ProgramRun;
  beforeAll(async () => {
    off = await runProgram((c) => {
      testSsh(c);
      c.swarm = { ...c.swarm, mode };
    });
    on = await runProgram((c) => {
      testSsh(c);
      c.swarm = { ...c.swarm, mode };
      c.balancer = {
        ...c.balancer,
        labels: { enabled: true, portRange: "21000-21999", allowedCidrs: ["100.66.0.0/16"] },
      };
    });
  }, 300_000);

  const rangeRules = (run: ProgramRun) =>
    run.recorded.filter(
      (r) => r.type === INGRESS && r.inputs.fromPort <= 21500 && 21500 <= r.inputs.toPort,
    );

  it("creates the range's rules only when enabled, on the balancer's group, for the configured clients", () => {
    expect(rangeRules(off)).toEqual([]);
    const lbSg = on.recorded.find(
      (r) => r.type === "aws:ec2/instance:Instance" && r.name === "lb-vm",
    )?.inputs.vpcSecurityGroupIds[0];
    const rules = rangeRules(on);
    expect(
      rules
        .map((r) => [
          r.inputs.securityGroupId,
          r.inputs.ipProtocol,
          r.inputs.fromPort,
          r.inputs.toPort,
          r.inputs.cidrIpv4,
        ])
        .sort(),
    ).toEqual([[lbSg, "tcp", 21000, 21999, "100.66.0.0/16"]]);
  });

  it("opens the manager's published ports to the balancer only in swarm mode with labels (its containers and tasks are backends)", () => {
    const balancerIp = (run: ProgramRun) =>
      fakeIp(
        run.recorded.find((r) => r.type === "aws:ec2/eip:Eip" && r.inputs.tags?.Name === "balancer")
          ?.name ?? "",
      );
    const managerSg = (run: ProgramRun) =>
      run.recorded.find(
        (r) =>
          r.type === "aws:ec2/instance:Instance" && r.inputs.tags?.["geoswarm:role"] === "manager",
      )?.inputs.vpcSecurityGroupIds[0];
    const published = (run: ProgramRun) =>
      run.recorded
        .filter(
          (r) =>
            r.type === INGRESS &&
            r.inputs.securityGroupId === managerSg(run) &&
            r.inputs.fromPort <= 40000 &&
            40000 <= r.inputs.toPort,
        )
        .map((r) => [r.inputs.ipProtocol, r.inputs.fromPort, r.inputs.toPort, r.inputs.cidrIpv4]);
    expect(managerSg(on)).toBeDefined();
    expect(published(off)).toEqual([]);
    expect(published(on)).toEqual(
      mode === "swarm" ? [["tcp", 32768, 60999, `${balancerIp(on)}/32`]] : [],
    );
  });

  it("renders [providers.docker] only when enabled: the manager's Docker API, the balancer's client certificate", async () => {
    expect((await configOf(off)).providers).toBeUndefined();
    const eip = managerIp(on);
    expect(eip).toBeDefined();
    const dockerHost = await new Promise<string>((ok) => on.program.dockerHost.apply(ok));
    const provider = (await configOf(on)).providers?.docker;
    expect(provider).toEqual({
      endpoint: dockerHost,
      tls_enabled: true,
      tls_cacert_path: "/etc/geoswarm-lb/docker/ca.pem",
      tls_cert_path: "/etc/geoswarm-lb/docker/cert.pem",
      tls_key_path: "/etc/geoswarm-lb/docker/key.pem",
      listen_host: "0.0.0.0",
      port_range: "21000-21999",
      drain_grace: "30s",
      backend_port_range: "32768-60999",
    });
    expect(provider.endpoint).toMatch(
      mode === "standalone" ? /^tcp:\/\/.+:2377$/ : /^tcp:\/\/.+:2376$/,
    );
    // The same files docker discovery's entry points use, as copied to the host.
    const servers = on.recorded.filter((r) => r.type === "pulumi-nodejs:dynamic/geoswarm:LbServer");
    expect(servers.length).toBeGreaterThan(0);
    for (const s of servers) {
      expect(s.inputs.server.discovery.docker_endpoint).toBe(provider.endpoint);
      expect(s.inputs.server.discovery.docker_tls_cert_path).toBe(provider.tls_cert_path);
    }
  });
});

describe("docs/deploy.md", () => {
  it("shows the flow rows that labels add to the sample stack in either mode, as the program plans them", () => {
    const added = (mode: string) => {
      const raw = prodConfig();
      raw.ssh.allowedCidr = "100.64.10.0/24";
      raw.swarm = { ...raw.swarm, mode };
      const off = planFlows(parseClusterSpec(raw));
      const on = planFlows(
        parseClusterSpec({ ...raw, balancer: { ...raw.balancer, labels: { enabled: true } } }),
      );
      return on.filter((f) => !off.some((g) => g.id === f.id && g.protocol === f.protocol));
    };
    expect(added("standalone").map((f) => `${f.id} ${f.protocol}`)).toEqual(["labels-ports tcp"]);
    // Swarm mode adds the same rows and the manager's published ports (its why names the mode).
    const swarm = added("swarm");
    expect(swarm.map((f) => `${f.id} ${f.protocol}`)).toEqual([
      "labels-ports tcp",
      "balancer-manager-published-ports tcp",
    ]);
    const table = renderFlowTable(swarm);
    const file = path.join(ROOT, "docs", "deploy.md");
    const block = /(<!-- flows:labels:begin -->\n)([\s\S]*?)(<!-- flows:labels:end -->)/;
    if (process.env.UPDATE_GOLDEN) {
      writeFileSync(file, readFileSync(file, "utf8").replace(block, `$1${table}$3`));
    }
    const m = block.exec(readFileSync(file, "utf8"));
    expect(m, "docs/deploy.md has a <!-- flows:labels:begin --> block").not.toBeNull();
    expect(m?.[2], "regenerate with UPDATE_GOLDEN=1").toBe(table);
  });
});

describe("the balancer's unit", () => {
  it("may bind a label port below 1024 when the range starts there (CAP_NET_BIND_SERVICE)", async () => {
    const unitOf = async (run: ProgramRun) =>
      (await (run.recorded.find((r) => r.type === COPY && r.name === "lb-copy-unit") as Recorded)
        .inputs.source.text) as string;
    const low = await runProgram((c) => {
      testSsh(c);
      c.balancer = { ...c.balancer, labels: { enabled: true, portRange: "80-443" } };
    });
    expect(await unitOf(low)).toContain("AmbientCapabilities=CAP_NET_BIND_SERVICE");
    const high = await runProgram((c) => {
      testSsh(c);
      c.balancer = { ...c.balancer, labels: { enabled: true } };
    });
    expect(await unitOf(high)).not.toContain("CAP_NET_BIND_SERVICE");
  }, 120_000);
});
