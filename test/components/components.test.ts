// Uses single components the way a consumer stack would (each with its own Elastic IP), with the
// Pulumi engine and providers replaced by mocks (support/mocks.ts); plus argument errors.
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import type { FirewallRule } from "../../components";
import { SSH_DIAL_ATTEMPTS, sshConnection } from "../../components/machine";
import { installMocks, isSecretValue, type Recorded, resolved, settled } from "./support/mocks";

let recorded: Recorded[];
const ssh = { privateKey: "fake-key", authorizedKeys: ["ssh-ed25519 AAAAC3NzaOperator op@x"] };
let lib: typeof import("../../components");
const byType = (t: string) => recorded.filter((r) => r.type === t);

beforeAll(async () => {
  recorded = await installMocks();
  lib = await import("../../components");
});

describe("components on their own", () => {
  it("DockerHost allocates its own EIP, labels the engine and uses the network's host group", async () => {
    const network = new lib.RegionNetwork("solo", {
      awsRegion: "eu-west-1",
      cidr: "10.99.0.0/16",
      sshPublicKey: "ssh-ed25519 AAAA x",
      roles: ["host"],
    });
    const ca = new lib.DockerCa("solo-ca");
    const host = new lib.DockerHost("solo-host", {
      region: "lab",
      labels: { gpu: "none" },
      network,
      ca,
      swarm: { mode: "standalone", discoveryUrl: "consul://192.0.2.1:8500/swarmcluster" },
      ssh,
    });
    const ip = await resolved(host.publicIp);
    expect(await resolved(host.dockerHost)).toBe(`tcp://${ip}:2376`);
    await settled(recorded);
    const eip = byType("aws:ec2/eip:Eip").find((e) => e.name === "solo-host-eip");
    expect(eip?.inputs).toMatchObject({ domain: "vpc", region: "eu-west-1" });
    const vm = byType("aws:ec2/instance:Instance").find((v) => v.name === "solo-host-vm");
    expect(vm?.inputs.vpcSecurityGroupIds).toEqual(["solo-host-id"]);
    // labels are operator config: the TLS step's daemon.json carries them, user data does not
    expect(vm?.inputs.userData).not.toMatch(/region=lab|gpu=none/);
    const tls = byType("command:remote:Command").find((c) => c.name === "solo-host-docker-tls");
    const daemon = /^daemon\.json (\S+)$/m.exec(tls?.inputs.stdin)![1];
    expect(JSON.parse(Buffer.from(daemon, "base64").toString()).labels).toEqual([
      "region=lab",
      "gpu=none",
    ]);
    expect(host.labels).toEqual({ gpu: "none", region: "lab" });
  });

  it("checks the boot, delivers keys and the engine's TLS after boot, each deleted with the instance", async () => {
    await settled(recorded);
    const vm = recorded.find((r) => r.name === "solo-host-vm")!;
    const named = (n: string) =>
      recorded.find((r) => r.type === "command:remote:Command" && r.name === n)!;
    const check = named("solo-host-cloud-init");
    const keys = named("solo-host-ssh-keys");
    const tls = named("solo-host-docker-tls");
    for (const c of [check, keys, tls]) {
      expect(c.options?.deletedWith, c.name).toBe(vm.urn);
      expect(c.inputs.triggers, c.name).toEqual(["solo-host-vm-id"]);
    }
    expect(check.inputs.create).toContain("cloud-init status --long --format json");
    expect(keys.options?.dependencies).toContain(check.urn);
    expect(keys.inputs.create).toContain("ssh-ed25519 AAAAC3NzaOperator op@x");
    expect(tls.options?.dependencies).toContain(check.urn);
    // the certificate travels on stdin, secret; the user data has none
    expect(isSecretValue(tls.raw.stdin)).toBe(true);
    expect(tls.inputs.stdin).toContain(
      `cert.pem ${Buffer.from(
        "-----BEGIN CERTIFICATE-----\nsolo-host-tls-cert\n-----END CERTIFICATE-----\n",
      ).toString("base64")}`,
    );
    expect(vm.inputs.userData).not.toContain("BEGIN CERTIFICATE");
    expect(vm.options?.ignoreChanges).toEqual(expect.arrayContaining(["keyName"]));
    // ignoring userData would boot a replacement with stale user data: it must stay diffed
    expect(vm.options?.ignoreChanges).not.toContain("userData");
  });

  it("runs the standalone Swarm agent from a step after the engine's TLS, not from user data", () => {
    const vm = recorded.find((r) => r.name === "solo-host-vm")!;
    const agent = recorded.find(
      (r) => r.type === "command:remote:Command" && r.name === "solo-host-swarm-agent",
    )!;
    const tls = recorded.find((r) => r.name === "solo-host-docker-tls")!;
    expect(agent.options?.dependencies).toContain(tls.urn);
    expect(agent.options?.deletedWith).toBe(vm.urn);
    expect(agent.inputs.triggers).toEqual(["solo-host-vm-id"]);
    expect(agent.inputs.create).toContain("swarm:1.2.9 join --advertise=");
    expect(agent.inputs.create).toContain("consul://192.0.2.1:8500/swarmcluster");
    expect(vm.inputs.userData).not.toMatch(/swarm:1\.2\.9|swarmcluster|swarm-agent/);
  });

  it("launches the instance after the gateway, route table and association", () => {
    const vm = recorded.find((r) => r.name === "solo-host-vm")!;
    const urn = (t: string) =>
      recorded.find((r) => r.type === t && r.name.startsWith("solo-"))!.urn;
    for (const t of [
      "aws:ec2/internetGateway:InternetGateway",
      "aws:ec2/routeTable:RouteTable",
      "aws:ec2/routeTableAssociation:RouteTableAssociation",
    ])
      expect(vm.options?.dependencies, t).toContain(urn(t));
  });

  it("routes every SSH connection through the bastion when one is given", () => {
    const c = sshConnection("192.0.2.7", {
      privateKey: "k",
      user: "admin",
      proxy: { host: "bastion.example" },
    });
    expect(c).toMatchObject({
      host: "192.0.2.7",
      user: "admin",
      proxy: {
        host: "bastion.example",
        user: "admin",
        privateKey: "k",
        dialErrorLimit: SSH_DIAL_ATTEMPTS,
      },
    });
    expect(sshConnection("h", { privateKey: "k" }).proxy).toBeUndefined();
  });

  it("rejects a labels.region that contradicts the region", () => {
    const network = new lib.RegionNetwork("solo2", {
      awsRegion: "eu-west-1",
      cidr: "10.98.0.0/16",
      sshPublicKey: "ssh-ed25519 AAAA x",
      roles: ["host"],
    });
    const ca = new lib.DockerCa("solo2-ca");
    expect(
      () =>
        new lib.DockerHost("bad-host", {
          region: "a",
          labels: { region: "b" },
          network,
          ca,
          swarm: { mode: "standalone", discoveryUrl: "consul://x" },
          ssh,
        }),
    ).toThrow(/labels.region conflicts/);
  });

  it("asks for an odd number of Consul servers and for what each Swarm mode needs", () => {
    const network = new lib.RegionNetwork("solo3", {
      awsRegion: "eu-west-1",
      cidr: "10.97.0.0/16",
      sshPublicKey: "ssh-ed25519 AAAA x",
    });
    expect(() => new lib.ConsulCluster("c2", { network, ssh, servers: 2 })).toThrow(/must be odd/);
    const ca = new lib.DockerCa("solo3-ca");
    expect(() => new lib.SwarmManager("m1", { network, ca, ssh })).toThrow(/needs discoveryUrl/);
    const noSsh = {
      network,
      ca,
      mode: "swarm",
    } as unknown as import("../../components").SwarmManagerArgs;
    expect(() => new lib.SwarmManager("m2", noSsh)).toThrow(/needs ssh/);
  });

  it("refuses a Balancer with workers > 1 on a Node.js without SO_REUSEPORT", () => {
    const network = new lib.RegionNetwork("solo4", {
      awsRegion: "eu-west-1",
      cidr: "10.96.0.0/16",
      sshPublicKey: "ssh-ed25519 AAAA x",
    });
    // Refused before the Consul cluster or SSH are touched.
    const args = { network, consul: {} as never, ssh: {} as never, consulClients: [] };
    expect(() => new lib.Balancer("b1", { ...args, workers: 2, nodeVersion: "20.18.1" })).toThrow(
      'Balancer b1: workers = 2 needs nodeVersion >= 22.12 (SO_REUSEPORT), got "20.18.1"',
    );
    expect(() => new lib.Balancer("b2", { ...args, workers: 2, nodeVersion: "22.11.0" })).toThrow(
      /needs nodeVersion >= 22.12/,
    );
  });

  it("refuses rules naming a machine without an address", () => {
    const rules: FirewallRule[] = [
      {
        role: "host",
        protocol: "tcp",
        fromPort: 1,
        toPort: 1,
        source: { machine: "ghost" },
        description: "x",
      },
    ];
    expect(
      () =>
        new lib.RegionNetwork("solo4", {
          awsRegion: "eu-west-1",
          cidr: "10.96.0.0/16",
          sshPublicKey: "k",
          rules,
        }),
    ).toThrow(/names ghost/);
  });

  it("registers every component under geoswarm:index:", async () => {
    await settled(recorded);
    const types = new Set(
      recorded.filter((r) => r.type.startsWith("geoswarm:")).map((r) => r.type),
    );
    expect(types.size).toBeGreaterThan(0);
    for (const t of types) expect(t).toMatch(/^geoswarm:index:[A-Z]\w+$/);
    expect(pulumi.runtime.isDryRun()).toBe(false);
  });
});
