// Builds the cluster in Docker swarm mode with the Pulumi engine and the AWS, TLS, random and
// command providers replaced by mocks (support/mocks.ts): manager init, the worker token read
// over SSH and kept secret, hosts joining with it, and the swarm-mode security-group rules.
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { parseClusterSpec } from "../../components/config";
import {
  installMocks,
  isSecretValue,
  type Recorded,
  resolved,
  SWARM_TOKEN,
  secretOf,
  settled,
} from "./support/mocks";
import { prodConfig } from "./support/stack";
import { scratch } from "./support/tools";

let recorded: Recorded[];
let cluster: import("../../components/cluster").Cluster;
const byType = (t: string) => recorded.filter((r) => r.type === t);
const one = (t: string, name: string) => {
  const found = recorded.filter((r) => r.type === t && r.name === name);
  expect(found, `${t} ${name}`).toHaveLength(1);
  return found[0];
};

beforeAll(async () => {
  recorded = await installMocks();
  const raw = prodConfig();
  raw.swarm.mode = "swarm";
  const spec = parseClusterSpec(raw);
  const artifactPath = path.join(scratch(), "geoswarm-lb.cjs");
  writeFileSync(artifactPath, "// fake balancer build\n");
  const { Cluster } = await import("../../components/cluster");
  cluster = new Cluster("test", { spec, sshPrivateKey: pulumi.secret("fake-key"), artifactPath });
  await resolved(pulumi.all([cluster.manager.dockerHost, cluster.balancer.apiUrl]));
  await settled(recorded);
});

describe("swarm mode", () => {
  it("points the entry points' docker discovery at the manager's engine API on 2376", () => {
    const r1 = one("pulumi-nodejs:dynamic/geoswarm:LbServer", "r1nginx");
    expect(r1.inputs.server.discovery.docker_endpoint).toMatch(/^tcp:\/\/[\d.]+:2376$/);
  });

  it("initialises the swarm on the manager and reads the worker token over SSH, secret", async () => {
    const ud = one("aws:ec2/instance:Instance", "manager-vm").inputs.userData as string;
    expect(ud).toContain("docker swarm init --advertise-addr");
    expect(ud).not.toContain("swarm:1.2.9");
    const token = one("command:remote:Command", "manager-join-token");
    expect(token.inputs).toMatchObject({ logging: "none", addPreviousOutputInEnv: false });
    expect(token.inputs.create).toContain("docker swarm join-token -q worker");
    expect(token.inputs.triggers).toEqual(["manager-vm-id"]);
    // after the engine restarted with its TLS files, which is after the boot check
    expect(token.options?.dependencies).toContain(
      one("command:remote:Command", "manager-docker-tls").urn,
    );
    expect(cluster.manager.hostJoin.mode).toBe("swarm");
    if (cluster.manager.hostJoin.mode === "swarm") {
      expect(await secretOf(pulumi.output(cluster.manager.hostJoin.token))).toBe(true);
    }
  });

  it("keeps the token out of every host's user data and joins over SSH with it on stdin", () => {
    const hosts = byType("aws:ec2/instance:Instance").filter(
      (v) => v.inputs.tags["geoswarm:role"] === "host",
    );
    expect(hosts.length).toBeGreaterThan(0);
    for (const vm of hosts) {
      const ud = vm.inputs.userData as string;
      // a new manager (new token) must not replace every host: user data forces a new instance
      expect(ud).not.toContain(SWARM_TOKEN);
      expect(ud).not.toContain("swarm-agent");
      expect(ud).toContain('"live-restore": false');
      const host = vm.name.replace(/-vm$/, "");
      const join = one("command:remote:Command", `${host}-swarm-join`);
      expect(isSecretValue(join.raw.stdin), host).toBe(true);
      expect(join.inputs.stdin).toBe(`${SWARM_TOKEN}\n`);
      expect(join.inputs.triggers).toEqual([`${host}-vm-id`]);
      expect(join.inputs.create).toContain("docker swarm join --advertise-addr");
      expect(join.options?.deletedWith).toBe(vm.urn);
      expect(join.options?.dependencies).toContain(
        one("command:remote:Command", `${host}-docker-tls`).urn,
      );
    }
  });

  it("exports the engine API of the manager as DOCKER_HOST", async () => {
    const ip = await resolved(cluster.manager.publicIp);
    expect(await resolved(cluster.manager.dockerHost)).toBe(`tcp://${ip}:2376`);
  });

  it("opens 2377 and the gossip/overlay ports between swarm nodes only", async () => {
    const rules = byType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule");
    const hostIps = new Set(
      (
        await resolved(
          pulumi.all(
            Object.values(cluster.hosts)
              .flat()
              .map((h) => h.publicIp),
          ),
        )
      ).map((ip) => `${ip}/32`),
    );
    const managerIp = `${await resolved(cluster.manager.publicIp)}/32`;
    const mgr2377 = rules.filter((r) => r.name.startsWith("net-region-1-manager-tcp2377-"));
    expect(new Set(mgr2377.map((r) => r.inputs.cidrIpv4))).toEqual(hostIps);
    for (const r of rules.filter((r) => [7946, 4789].includes(r.inputs.fromPort))) {
      expect(hostIps.has(r.inputs.cidrIpv4) || r.inputs.cidrIpv4 === managerIp, r.name).toBe(true);
    }
    const vxlan = rules.filter((r) => r.name.startsWith("net-region-3-host-udp4789-"));
    expect(vxlan).toHaveLength(hostIps.size + 1);
    // No machine dials the hosts' engines in swarm mode; only the operator may (DockerHost.dockerHost).
    expect(
      rules
        .filter((r) => r.name.startsWith("net-region-2-host-tcp2376-"))
        .map((r) => r.name.replace(/^net-region-2-host-tcp2376-/, "")),
    ).toEqual(["operator"]);
  });
});
