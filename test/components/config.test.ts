// Pure tests of the stack-config schema (components/config.ts) against Pulumi.prod.yaml and
// broken variants of it. No Pulumi engine involved.
import { describe, expect, it } from "vitest";
import {
  instanceTypeUses,
  parseClusterSpec,
  readClusterSpec,
  regionChecks,
} from "../../components/config";
import { prodConfig, readStackFile, specProblems, TEST_SSH_PUBLIC_KEY } from "./support/stack";

describe("stack config", () => {
  it("parses Pulumi.prod.yaml and fills defaults", () => {
    const spec = parseClusterSpec(prodConfig());
    expect(spec.coreRegion).toBe("region-1");
    expect(spec.regions.map((r) => [r.name, r.awsRegion, r.hosts.length])).toEqual([
      ["region-1", "eu-central-1", 2],
      ["region-2", "us-east-1", 2],
      ["region-3", "ap-southeast-1", 1],
    ]);
    expect(spec.consul).toMatchObject({
      servers: 3,
      datacenter: "production",
      version: "1.20.2-1",
    });
    expect(spec.swarm).toEqual({
      mode: "standalone",
      strategy: "binpack",
      managerInstanceType: "t3.small",
      image: "swarm:1.2.9",
    });
    expect(spec.balancer).toMatchObject({ apiUser: "geoswarm", apiPort: 8888 });
    expect(spec.regions[1].eipQuota).toBe(5);
    expect(spec.entryPoints[0]).toMatchObject({
      lbPort: 22001,
      allowedCidr: "0.0.0.0/0",
      healthcheck: { fails: 1 },
    });
  });

  it("takes balancer.workers (default 1) within the balancer's own range", () => {
    expect(parseClusterSpec(prodConfig()).balancer.workers).toBe(1);
    const raw = prodConfig();
    const withWorkers = (workers: unknown) => ({
      ...raw,
      balancer: { ...(raw.balancer as object), workers },
    });
    expect(parseClusterSpec(withWorkers(2)).balancer.workers).toBe(2);
    expect(specProblems(withWorkers(0)).join("\n")).toMatch(/balancer\.workers/);
    expect(specProblems(withWorkers(65)).join("\n")).toMatch(/balancer\.workers/);
  });

  it("refuses balancer.workers > 1 on a nodeVersion older than 22.12, naming the key", () => {
    const raw = prodConfig();
    const on = (workers: number, nodeVersion: string) => ({
      ...raw,
      balancer: { ...(raw.balancer as object), workers, nodeVersion },
    });
    expect(specProblems(on(2, "22.11.0"))).toEqual([
      'geoswarm:balancer.workers: 2 needs balancer.nodeVersion >= 22.12 (SO_REUSEPORT listeners), got "22.11.0"; raise nodeVersion or set workers to 1',
    ]);
    expect(specProblems(on(2, "20.19.0")).join("\n")).toMatch(/^geoswarm:balancer\.workers: /);
    expect(parseClusterSpec(on(2, "22.12.0")).balancer.workers).toBe(2);
    expect(parseClusterSpec(on(1, "20.19.0")).balancer.workers).toBe(1);
  });

  it("reads through a pulumi.Config-like getter", () => {
    const raw = prodConfig();
    const spec = readClusterSpec({
      get: (k: string) => raw[k] as string | undefined,
      getObject: <T>(k: string) => raw[k] as T | undefined,
    });
    expect(spec.regions).toHaveLength(3);
  });

  it("fills section defaults when optional sections are absent", () => {
    const raw = prodConfig();
    delete raw.consul;
    delete raw.swarm;
    delete raw.balancer;
    delete raw.entryPoints;
    const spec = parseClusterSpec(raw);
    expect(spec.consul.servers).toBe(3);
    expect(spec.swarm.mode).toBe("standalone");
    expect(spec.entryPoints).toEqual([]);
  });

  const cases: [string, (c: Record<string, any>) => void, string][] = [
    ["missing ssh", (c) => delete c.ssh, "geoswarm:ssh: is required"],
    ["unknown top-level key", (c) => (c.region = "x"), "geoswarm:region: unknown key"],
    ["unknown nested key", (c) => (c.consul.server = 3), "geoswarm:consul.server: unknown key"],
    [
      "core region not defined",
      (c) => (c.coreRegion = "region-9"),
      'geoswarm:coreRegion: "region-9" is not one of',
    ],
    [
      "bad AWS region",
      (c) => (c.regions[1].awsRegion = "us-east"),
      "geoswarm:regions[1].awsRegion: must be an AWS region",
    ],
    [
      "bad CIDR",
      (c) => (c.regions[0].cidr = "10.10.0.1/16"),
      "geoswarm:regions[0].cidr: must be an IPv4 CIDR",
    ],
    [
      "overlapping CIDRs",
      (c) => (c.regions[2].cidr = "10.10.128.0/17"),
      "geoswarm:regions[2].cidr: 10.10.128.0/17 overlaps regions[0].cidr",
    ],
    [
      "bad instance type",
      (c) => (c.regions[0].hosts[1].instanceType = "large"),
      "geoswarm:regions[0].hosts[1].instanceType: must be an EC2 instance type",
    ],
    [
      "no hosts",
      (c) => (c.regions[2].hosts = []),
      "geoswarm:regions[2].hosts: needs at least one Docker host",
    ],
    [
      "duplicate host",
      (c) => (c.regions[1].hosts[0].name = "r1-host-1"),
      'geoswarm:regions[1].hosts[0].name: host name "r1-host-1" is already used by geoswarm:regions[0].hosts[0].name',
    ],
    [
      "host named like a core machine",
      (c) => (c.regions[1].hosts[0].name = "balancer"),
      'host name "balancer" is already used by geoswarm itself',
    ],
    [
      "region label set by hand",
      (c) => (c.regions[0].hosts[0].labels.region = "x"),
      "geoswarm:regions[0].hosts[0].labels.region: is set by geoswarm",
    ],
    [
      "bad label key",
      (c) => (c.regions[0].hosts[0].labels["Bad Key"] = "x"),
      "geoswarm:regions[0].hosts[0].labels.Bad Key: must be a lowercase Docker label key",
    ],
    [
      "even consul servers",
      (c) => (c.consul.servers = 4),
      "geoswarm:consul.servers: must be an odd number from 1 to 7",
    ],
    ["bad swarm mode", (c) => (c.swarm.mode = "kubernetes"), "geoswarm:swarm.mode:"],
    ["bad strategy", (c) => (c.swarm.strategy = "fill"), "geoswarm:swarm.strategy:"],
    [
      "bad ssh key",
      (c) => (c.ssh.publicKey = "AAAA"),
      "geoswarm:ssh.publicKey: must be an OpenSSH public key line",
    ],
    [
      "bad ssh cidr",
      (c) => (c.ssh.allowedCidr = "everyone"),
      "geoswarm:ssh.allowedCidr: must be an IPv4 CIDR",
    ],
    [
      "ssh.allowedCidr in a documentation range",
      (c) => (c.ssh.allowedCidr = "203.0.113.7/32"),
      "geoswarm:ssh.allowedCidr: 203.0.113.7/32 is in the documentation range 203.0.113.0/24, a placeholder no client has; put the public network pulumi runs from",
    ],
    [
      "entry point allowedCidr in a documentation range",
      (c) => (c.entryPoints[1].allowedCidr = "192.0.2.128/25"),
      "geoswarm:entryPoints[1].allowedCidr: 192.0.2.128/25 is in the documentation range 192.0.2.0/24",
    ],
    [
      "a public key whose comment marks it as an example",
      (c) => (c.ssh.publicKey = TEST_SSH_PUBLIC_KEY.replace("geoswarm-test", "you@example.com")),
      'geoswarm:ssh.publicKey: its comment "you@example.com" marks it as an example; put your own key there',
    ],
    [
      "a public key body that is a placeholder",
      (c) => (c.ssh.publicKey = `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${"X".repeat(43)} me`),
      "geoswarm:ssh.publicKey: its body marks it as an example",
    ],
    [
      "a truncated public key",
      (c) => (c.ssh.publicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKmjyrLn me"),
      "geoswarm:ssh.publicKey: the key body does not encode a ssh-ed25519 key (truncated or mistyped)",
    ],
    [
      "an RSA label on an ed25519 key",
      (c) => (c.ssh.publicKey = TEST_SSH_PUBLIC_KEY.replace("ssh-ed25519", "ssh-rsa")),
      "geoswarm:ssh.publicKey: the key body does not encode a ssh-rsa key",
    ],
    [
      "the placeholder key as an extra key",
      (c) => (c.ssh.extraPublicKeys = [(readStackFile().ssh as { publicKey: string }).publicKey]),
      "geoswarm:ssh.extraPublicKeys[0]: is the placeholder key shipped in Pulumi.prod.yaml",
    ],
    [
      "a Graviton Consul server",
      (c) => (c.consul.instanceType = "t4g.small"),
      "geoswarm:consul.instanceType: t4g.small is an arm64 (Graviton) type, but geoswarm machines run Ubuntu 24.04 amd64 and Node.js linux-x64; choose an x86_64 type",
    ],
    [
      "a Graviton balancer",
      (c) => (c.balancer.instanceType = "c7gn.large"),
      "geoswarm:balancer.instanceType: c7gn.large is an arm64 (Graviton) type",
    ],
    [
      "a Graviton manager",
      (c) => (c.swarm.managerInstanceType = "a1.large"),
      "geoswarm:swarm.managerInstanceType: a1.large is an arm64 (Graviton) type",
    ],
    [
      "a Graviton host",
      (c) => (c.regions[1].hosts[1].instanceType = "m7g.large"),
      "geoswarm:regions[1].hosts[1].instanceType: m7g.large is an arm64 (Graviton) type",
    ],
    [
      "entry point region",
      (c) => (c.entryPoints[0].region = "mars"),
      'geoswarm:entryPoints[0].region: "mars" is not one of',
    ],
    [
      "entry point on 8500",
      (c) => (c.entryPoints[0].lbPort = 8500),
      "geoswarm:entryPoints[0].lbPort: 8500 is used by the balancer host itself",
    ],
    [
      "entry point port reused",
      (c) => (c.entryPoints[1].lbPort = 22001),
      'geoswarm:entryPoints[1].lbPort: LB port "22001" is already used',
    ],
    [
      "entry point balance",
      (c) => (c.entryPoints[0].balance = "fastest"),
      "geoswarm:entryPoints[0].balance:",
    ],
    [
      "healthcheck duration",
      (c) => (c.entryPoints[0].healthcheck.interval = "2 seconds"),
      "geoswarm:entryPoints[0].healthcheck.interval: must be a Go duration",
    ],
    [
      "private port range",
      (c) => (c.entryPoints[0].privatePort = 70000),
      "geoswarm:entryPoints[0].privatePort:",
    ],
  ];
  it.each(cases)("rejects %s, naming the key", (_, mutate, expected) => {
    const raw = prodConfig();
    mutate(raw);
    expect(specProblems(raw).join("\n")).toContain(expected);
  });

  it("reports every problem at once", () => {
    const raw = prodConfig();
    raw.regions[0].cidr = "nope";
    raw.consul.servers = 2;
    expect(specProblems(raw)).toHaveLength(2);
  });

  it("refuses Pulumi.prod.yaml as shipped: its key and CIDR are placeholders, with what to put there", () => {
    expect(specProblems(structuredClone(readStackFile()))).toEqual([
      "geoswarm:ssh.publicKey: is the placeholder key shipped in Pulumi.prod.yaml; put your own key there: the contents of ~/.ssh/geoswarm.pub (ssh-keygen -t ed25519 -f ~/.ssh/geoswarm), see docs/deploy.md",
      "geoswarm:ssh.allowedCidr: 198.51.100.0/24 is in the documentation range 198.51.100.0/24, a placeholder no client has; put the public network pulumi runs from, e.g. your address as a.b.c.d/32 (curl https://checkip.amazonaws.com)",
    ]);
  });

  it("takes CIDRs that only contain a documentation range, and real keys", () => {
    const raw = prodConfig();
    raw.entryPoints[0].allowedCidr = "198.51.0.0/16";
    raw.entryPoints[1].allowedCidr = "0.0.0.0/0";
    raw.ssh.allowedCidr = "192.0.3.0/24";
    const spec = parseClusterSpec(raw);
    expect(spec.entryPoints.map((e) => e.allowedCidr)).toEqual(["198.51.0.0/16", "0.0.0.0/0"]);
    expect(spec.ssh.publicKey).toBe(TEST_SSH_PUBLIC_KEY);
  });

  it("leaves the Elastic IP quota to deploy time, with eipQuota as the fallback", () => {
    const raw = prodConfig();
    raw.regions[0].eipQuota = 5;
    const spec = parseClusterSpec(raw);
    expect(regionChecks(spec)).toMatchObject({
      "region-1": {
        eipQuotaCheck: {
          needed: 7,
          fallbackQuota: 5,
          fallbackSource: "geoswarm:regions[0].eipQuota",
        },
      },
      "region-2": {
        eipQuotaCheck: {
          needed: 2,
          fallbackQuota: 5,
          fallbackSource: "geoswarm:regions[1].eipQuota",
        },
      },
      "region-3": { eipQuotaCheck: { needed: 1 } },
    });
  });

  it("names the key of every instance type a region runs", () => {
    expect(instanceTypeUses(parseClusterSpec(prodConfig()))).toEqual({
      "region-1": [
        { instanceType: "t3.small", usedBy: "geoswarm:consul.instanceType" },
        { instanceType: "t3.small", usedBy: "geoswarm:balancer.instanceType" },
        { instanceType: "t3.small", usedBy: "geoswarm:swarm.managerInstanceType" },
        { instanceType: "t3.medium", usedBy: "geoswarm:regions[0].hosts[0].instanceType" },
        { instanceType: "t3.medium", usedBy: "geoswarm:regions[0].hosts[1].instanceType" },
      ],
      "region-2": [
        { instanceType: "t3.medium", usedBy: "geoswarm:regions[1].hosts[0].instanceType" },
        { instanceType: "c6i.large", usedBy: "geoswarm:regions[1].hosts[1].instanceType" },
      ],
      "region-3": [
        { instanceType: "t3.medium", usedBy: "geoswarm:regions[2].hosts[0].instanceType" },
      ],
    });
  });

  it("refuses a swarm-mode layout that exceeds the security-group rule limit", () => {
    const raw = prodConfig();
    raw.swarm.mode = "swarm";
    raw.regions[1].eipQuota = 40;
    raw.regions[1].hosts = Array.from({ length: 20 }, (_, i) => ({ name: `bulk-${i}` }));
    expect(specProblems(raw).join("\n")).toMatch(
      /geoswarm:regions: the host security group would need \d+ inbound rules/,
    );
  });
});
