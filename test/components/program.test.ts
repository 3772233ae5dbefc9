// Runs index.ts (the prod program) against Pulumi.prod.yaml with the Pulumi engine and the AWS,
// TLS, random and command providers replaced by mocks (support/mocks.ts). Checks the resource
// graph for the 3-region stack, its security-group rules, secrets, user data, remote-command
// triggers and the stack outputs.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import {
  GOSSIP_KEY,
  installMocks,
  isSecretValue,
  type Recorded,
  resolved,
  secretOf,
  settled,
} from "./support/mocks";
import { ROOT, TEST_OPERATOR_CIDR, testStackConfig } from "./support/stack";

let recorded: Recorded[];
let program: Record<string, any>;
const byType = (t: string) => recorded.filter((r) => r.type === t);
const one = (t: string, name: string) => {
  const found = recorded.filter((r) => r.type === t && r.name === name);
  expect(found, `${t} ${name}`).toHaveLength(1);
  return found[0];
};
const ipOf = (machine: string): string => one("aws:ec2/eip:Eip", `geoswarm-${machine}`).inputs.__ip;

beforeAll(async () => {
  recorded = await installMocks();
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(testStackConfig())) {
    config[`geoswarm:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
  }
  config["geoswarm:sshPrivateKey"] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----";
  pulumi.runtime.setAllConfig(config, ["geoswarm:sshPrivateKey"]);
  program = await import("../../index");
  await resolved(
    pulumi.all([program.balancerApiUrl, program.dockerHost, program.hostIps, program.entryPoints]),
  );
  await settled(recorded);
  // Remember each EIP's fake address next to its inputs for lookups.
  const { fakeIp } = await import("./support/mocks");
  for (const r of byType("aws:ec2/eip:Eip")) r.inputs.__ip = fakeIp(r.name);
});

const AWS_REGIONS = {
  "region-1": "eu-central-1",
  "region-2": "us-east-1",
  "region-3": "ap-southeast-1",
};
const CORE_MACHINES = ["consul-1", "consul-2", "consul-3", "balancer", "swarm-manager"];
const HOSTS = {
  "region-1": ["r1-host-1", "r1-host-2"],
  "region-2": ["r2-host-1", "r2-host-2"],
  "region-3": ["r3-host-1"],
};

describe("resource graph (3 regions, standalone Swarm)", () => {
  it("creates one VPC, public subnet, IGW, route table and key pair per region, in that region", () => {
    for (const t of [
      "aws:ec2/vpc:Vpc",
      "aws:ec2/subnet:Subnet",
      "aws:ec2/internetGateway:InternetGateway",
      "aws:ec2/routeTable:RouteTable",
      "aws:ec2/keyPair:KeyPair",
    ]) {
      expect(
        byType(t)
          .map((r) => r.inputs.region)
          .sort(),
        t,
      ).toEqual(Object.values(AWS_REGIONS).sort());
    }
    const vpc = one("aws:ec2/vpc:Vpc", "net-region-2-vpc");
    expect(vpc.inputs.cidrBlock).toBe("10.20.0.0/16");
    expect(one("aws:ec2/subnet:Subnet", "net-region-2-public").inputs).toMatchObject({
      cidrBlock: "10.20.0.0/24",
      availabilityZone: "us-east-1a",
      mapPublicIpOnLaunch: true,
    });
    expect(one("aws:ec2/routeTable:RouteTable", "net-region-3-rt").inputs.routes).toEqual([
      { cidrBlock: "0.0.0.0/0", gatewayId: "net-region-3-igw-id" },
    ]);
  });

  it("allocates one Elastic IP per machine in the machine's region and associates it", () => {
    const eips = byType("aws:ec2/eip:Eip");
    expect(eips).toHaveLength(CORE_MACHINES.length + 5);
    const perRegion = Object.fromEntries(
      Object.values(AWS_REGIONS).map((r) => [r, eips.filter((e) => e.inputs.region === r).length]),
    );
    expect(perRegion).toEqual({ "eu-central-1": 7, "us-east-1": 2, "ap-southeast-1": 1 });
    expect(eips.every((e) => e.inputs.domain === "vpc")).toBe(true);
    const assoc = byType("aws:ec2/eipAssociation:EipAssociation");
    expect(assoc).toHaveLength(eips.length);
    expect(
      one("aws:ec2/eipAssociation:EipAssociation", "r2-host-1-eip-assoc").inputs,
    ).toMatchObject({
      region: "us-east-1",
      allocationId: "eipalloc-geoswarm-r2-host-1",
      instanceId: "r2-host-1-vm-id",
    });
  });

  it("runs each machine in its region with hardened metadata and replace-on-user-data-change", () => {
    const vms = byType("aws:ec2/instance:Instance");
    expect(vms).toHaveLength(10);
    for (const [region, hosts] of Object.entries(HOSTS)) {
      for (const h of hosts) {
        const vm = one("aws:ec2/instance:Instance", `${h}-vm`);
        expect(vm.inputs.region).toBe(AWS_REGIONS[region as keyof typeof AWS_REGIONS]);
        expect(vm.inputs.ami).toBe(`ami-${vm.inputs.region}`);
        expect(vm.inputs.tags["geoswarm:role"]).toBe("host");
      }
    }
    for (const vm of vms) {
      expect(vm.inputs.metadataOptions).toMatchObject({
        httpTokens: "required",
        httpPutResponseHopLimit: 1,
      });
      expect(vm.inputs.userDataReplaceOnChange).toBe(true);
      expect(vm.inputs.rootBlockDevice.encrypted).toBe(true);
    }
    expect(one("aws:ec2/instance:Instance", "consul-consul-2-vm").inputs.region).toBe(
      "eu-central-1",
    );
    expect(one("aws:ec2/instance:Instance", "lb-vm").inputs.instanceType).toBe("t3.small");
    expect(one("aws:ec2/instance:Instance", "r2-host-2-vm").inputs.instanceType).toBe("c6i.large");
  });

  it("uses one type-token prefix for every component", () => {
    const components = recorded.filter(
      (r) => !r.type.includes(":") || r.type.startsWith("geoswarm:"),
    );
    expect(new Set(components.map((r) => r.type))).toEqual(
      new Set(
        [
          "Cluster",
          "ClusterAddresses",
          "RegionNetwork",
          "DockerCa",
          "ConsulCluster",
          "Balancer",
          "SwarmManager",
          "DockerHost",
        ].map((t) => `geoswarm:index:${t}`),
      ),
    );
  });

  it("has one root, the Cluster component, as the ancestor of every resource", () => {
    const roots = recorded.filter(
      (r) => !r.options?.parent || r.options.parent.includes("::pulumi:pulumi:Stack::"),
    );
    expect(roots.map((r) => `${r.type} ${r.name}`)).toEqual(["geoswarm:index:Cluster test"]);
    const byUrn = new Map(recorded.map((r) => [r.urn, r]));
    const root = roots[0].urn;
    for (const r of recorded.filter((x) => x !== roots[0])) {
      let at: Recorded | undefined = r;
      const chain: string[] = [];
      while (at?.options?.parent && at.options.parent !== root) {
        chain.push(at.options.parent);
        at = byUrn.get(at.options.parent);
      }
      expect(at?.options?.parent, `${r.type} ${r.name} via ${chain.join(" <- ")}`).toBe(root);
    }
  });
});

describe("security groups", () => {
  const rules = () => byType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule");
  const clusterIps = () => new Set(byType("aws:ec2/eip:Eip").map((e) => `${e.inputs.__ip}/32`));
  const CLUSTER_PORTS = [2376, 2377, 8300, 8301, 8302, 8500, 7946, 4789];

  it("admits cluster ports only from the cluster's own EIPs (or the operator CIDR)", () => {
    const ips = clusterIps();
    for (const r of rules()) {
      const clusterPort = CLUSTER_PORTS.some((p) => r.inputs.fromPort <= p && p <= r.inputs.toPort);
      if (!clusterPort) continue;
      expect(
        ips.has(r.inputs.cidrIpv4) || r.inputs.cidrIpv4 === TEST_OPERATOR_CIDR,
        `${r.name} ${r.inputs.cidrIpv4}`,
      ).toBe(true);
    }
    expect(rules().some((r) => r.inputs.fromPort <= 2375 && 2375 <= r.inputs.toPort)).toBe(false);
  });

  it("opens each engine's TLS API to the Swarm manager's EIP and the operator only", () => {
    const r2 = rules().filter(
      (r) => r.name.startsWith("net-region-2-host-") && r.inputs.fromPort === 2376,
    );
    expect(r2.map((r) => r.inputs.cidrIpv4).sort()).toEqual(
      [TEST_OPERATOR_CIDR, `${ipOf("swarm-manager")}/32`].sort(),
    );
    expect(r2[0].inputs.region).toBe("us-east-1");
  });

  it("lets only the balancer reach Consul HTTP, and every cluster EIP reach the balancer's :8500", () => {
    const consulHttp = rules().filter(
      (r) => r.name.startsWith("net-region-1-consul-") && r.inputs.fromPort === 8500,
    );
    expect(consulHttp.map((r) => r.inputs.cidrIpv4)).toEqual([`${ipOf("balancer")}/32`]);
    const lb8500 = rules()
      .filter((r) => r.name.startsWith("net-region-1-balancer-tcp8500-"))
      .map((r) => r.inputs.cidrIpv4)
      .sort();
    const expected = ["swarm-manager", ...Object.values(HOSTS).flat()].map((m) => `${ipOf(m)}/32`);
    expect(lb8500).toEqual([...expected, TEST_OPERATOR_CIDR].sort());
  });

  it("keeps SSH and the LB API to the operator CIDR and opens entry points", () => {
    for (const r of rules().filter((r) => r.inputs.fromPort === 22 || r.inputs.fromPort === 8888)) {
      expect(r.inputs.cidrIpv4).toBe(TEST_OPERATOR_CIDR);
    }
    const ep = rules().filter((r) => r.inputs.fromPort === 22001);
    expect(ep.map((r) => [r.inputs.cidrIpv4, r.inputs.region])).toEqual([
      ["0.0.0.0/0", "eu-central-1"],
    ]);
  });

  it("creates security groups per role only where the role runs, each with an egress rule", () => {
    const sgs = byType("aws:ec2/securityGroup:SecurityGroup")
      .map((s) => s.name)
      .sort();
    expect(sgs).toEqual([
      "net-region-1-balancer",
      "net-region-1-consul",
      "net-region-1-host",
      "net-region-1-manager",
      "net-region-2-host",
      "net-region-3-host",
    ]);
    expect(byType("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")).toHaveLength(
      sgs.length,
    );
  });
});

describe("secrets", () => {
  it("keeps every key out of user data; the Consul steps get the gossip key on stdin, secret", () => {
    for (const vm of byType("aws:ec2/instance:Instance")) {
      expect(vm.inputs.userData, vm.name).not.toMatch(/PRIVATE KEY|SWMTKN|"encrypt"/);
      expect(vm.inputs.userData, vm.name).not.toContain(GOSSIP_KEY);
    }
    for (const n of ["consul-1", "consul-2", "consul-3"]
      .map((s) => `consul-${s}-consul`)
      .concat("lb-consul")) {
      const step = one("command:remote:Command", n);
      expect(isSecretValue(step.raw.stdin), n).toBe(true);
      expect(step.inputs.stdin, n).toContain(GOSSIP_KEY);
    }
  });

  it("keeps the API password, client TLS material and the SSH key secret", async () => {
    expect(await secretOf(program.balancerApiPassword)).toBe(true);
    expect(await secretOf(program.dockerClientTls)).toBe(true);
    expect(await secretOf(program.dockerHost)).toBe(false);
    const install = one("command:remote:Command", "lb-install");
    expect(
      isSecretValue(install.raw.connection.privateKey) || isSecretValue(install.raw.connection),
    ).toBe(true);
    const configCopy = one("command:remote:CopyToRemote", "lb-copy-config");
    expect(isSecretValue(configCopy.raw.source)).toBe(true);
  });

  it("generates the gossip key with @pulumi/random (32 bytes) and the API password (32 chars)", () => {
    expect(one("random:index/randomBytes:RandomBytes", "consul-gossip-key").inputs.length).toBe(32);
    expect(
      one("random:index/randomPassword:RandomPassword", "lb-api-password").inputs,
    ).toMatchObject({ length: 32 });
  });
});

describe("after-boot steps (user data holds none of this)", () => {
  const userData = (vm: string) =>
    one("aws:ec2/instance:Instance", `${vm}-vm`).inputs.userData as string;
  const step = (name: string) => one("command:remote:Command", name).inputs;

  it("joins each host to the standalone Swarm through the balancer's Consul", () => {
    const ud = step("r2-host-1-swarm-agent").create as string;
    expect(userData("r2-host-1").startsWith("#cloud-config\n")).toBe(true);
    expect(ud).toContain(
      `join --advertise=${ipOf("r2-host-1")}:2376 --ttl 20s --heartbeat 4s consul://${ipOf("balancer")}:8500/swarmcluster`,
    );
    const daemon = /^daemon\.json (\S+)$/m.exec(step("r2-host-1-docker-tls").stdin)![1];
    expect(JSON.parse(Buffer.from(daemon, "base64").toString()).labels).toEqual([
      "region=region-2",
      "cpu=standard",
    ]);
    expect(ud).not.toContain("r2-host-1-tls-key");
  });

  it("puts the host's EIP into its certificate's SANs", () => {
    expect(
      one("tls:index/certRequest:CertRequest", "r3-host-1-tls-csr").inputs.ipAddresses,
    ).toEqual([ipOf("r3-host-1"), "127.0.0.1"]);
    expect(
      one("tls:index/locallySignedCert:LocallySignedCert", "r3-host-1-tls-cert").inputs.allowedUses,
    ).toContain("server_auth");
  });

  it("bootstraps Consul with bootstrap_expect and retry_join on the other servers' EIPs", () => {
    const ud = step("consul-consul-2-consul").stdin as string;
    expect(ud).toContain('"bootstrap_expect": 3');
    expect(ud).toContain(`"advertise_addr": "${ipOf("consul-2")}"`);
    const join = JSON.parse(/"retry_join": (\[[^\]]*\])/.exec(ud)![1]);
    expect(join).toEqual([ipOf("consul-1"), ipOf("consul-3")]);
    expect(ud).toContain(GOSSIP_KEY);
  });

  it("runs the standalone manager with the strategy, TLS and the Consul URL", () => {
    const ud = step("manager-swarm-manager").create as string;
    expect(ud).toContain("manage -H :2377 --strategy binpack --tlsverify");
    expect(ud).toContain(`consul://${ipOf("balancer")}:8500/swarmcluster`);
  });

  it("gives the balancer a Consul client agent and the pinned Node.js installer", () => {
    expect(step("lb-consul").stdin).toContain('"server": false');
    expect(step("lb-node").create).toContain("version='22.23.3'");
  });
});

describe("balancer deployment", () => {
  const artifact = path.join(ROOT, "lb/dist/geoswarm-lb.cjs");
  const addon = path.join(ROOT, "lb/dist/geoswarm-lb.node");
  // lb/build.mjs's manifest: the addon's identity (sources, flags, ABI), written built or not.
  const addonId = () =>
    JSON.parse(readFileSync(path.join(ROOT, "lb/dist/geoswarm-lb.node.json"), "utf8")).identity;

  it("copies the artifact, config, unit and docker client TLS with CopyToRemote into a staging dir", () => {
    const copies = byType("command:remote:CopyToRemote");
    expect(copies.map((c) => c.inputs.remotePath).sort()).toEqual(
      [
        "api-ca.pem",
        "api-cert.pem",
        "api-key.pem",
        "api-password",
        "config.toml",
        "docker-ca.pem",
        "docker-cert.pem",
        "docker-key.pem",
        // the native data-path addon, shipped when `npm run build:lb` built it (gcc), staged
        // under its identity
        ...(existsSync(addon) ? [`geoswarm-lb-${addonId()}.node`] : []),
        "geoswarm-lb.cjs",
        "geoswarm-lb.service",
      ].map((f) => `/home/ubuntu/geoswarm-lb-staging/${f}`),
    );
    expect(isSecretValue(one("command:remote:CopyToRemote", "lb-copy-docker-key").raw.source)).toBe(
      true,
    );
    expect(
      one("tls:index/locallySignedCert:LocallySignedCert", "lb-docker-client-tls-cert").inputs
        .allowedUses,
    ).toEqual(["digital_signature", "key_encipherment", "client_auth"]);
  });

  it("re-runs the install on artifact hash, config, unit, instance or certificate change", async () => {
    const install = one("command:remote:Command", "lb-install");
    const config = await one("command:remote:CopyToRemote", "lb-copy-config").inputs.source.text;
    const unit = await one("command:remote:CopyToRemote", "lb-copy-unit").inputs.source.text;
    // Hashed here with node:crypto, not the component's own helper.
    const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
    expect(install.inputs.triggers[0]).toBe(sha256(readFileSync(artifact)));
    expect(install.inputs.triggers[1]).toBe(sha256(config));
    expect(install.inputs.triggers[2]).toBe(sha256(unit));
    expect(install.inputs.triggers[3]).toBe("lb-vm-id");
    // Renewing the balancer's docker client certificate re-installs it.
    expect(install.inputs.triggers[4]).toBe(
      sha256("-----BEGIN CERTIFICATE-----\nlb-docker-client-tls-cert\n-----END CERTIFICATE-----\n"),
    );
    // Renewing the API's server certificate too (the balancer reads it at start).
    expect(install.inputs.triggers[5]).toBe(
      sha256("-----BEGIN CERTIFICATE-----\nlb-api-tls-cert\n-----END CERTIFICATE-----\n"),
    );
    // A new API password too (its file is read at start).
    expect(install.inputs.triggers[6]).toBe(sha256("pw-lb-api-password-0123456789abcdef"));
    // The native addon's identity and the setting (default auto), built here or not.
    expect(install.inputs.triggers[7]).toBe(`native data path auto ${addonId()}`);
    expect(install.inputs.triggers).toHaveLength(8);
    expect(install.inputs.create).toContain(`addon_id='${addonId()}'`);
    expect(install.inputs.create).toContain('sudo systemctl restart "$unit"');
    expect(install.inputs.create).toContain('sudo systemctl reload "$unit"');
    expect(install.inputs.create).toMatch(/^restart_key='[0-9a-f]{64}'$/m);
    expect(install.inputs.create).toContain(
      "put docker-key.pem '/etc/geoswarm-lb/docker/key.pem' -m 0640 -g 'geoswarm-lb'",
    );
    expect(install.inputs.connection).toMatchObject({
      host: ipOf("balancer"),
      user: "ubuntu",
      dialErrorLimit: 60,
    });
  });

  it("admits to the `consul` server exactly the sources of its flows: the manager, the hosts, the operator", async () => {
    const config: string = await one("command:remote:CopyToRemote", "lb-copy-config").inputs.source
      .text;
    for (const m of ["swarm-manager", "r1-host-1", "r3-host-1"])
      expect(config).toContain(`"allow ${ipOf(m)}/32"`);
    // The Consul servers are behind it, not its clients.
    expect(config).not.toContain(`allow ${ipOf("consul-1")}/32`);
    expect(config).toContain(`"allow ${TEST_OPERATOR_CIDR}"`);
    expect(config).not.toContain(`allow ${ipOf("balancer")}/32`);
    // The password is in its own file (api.basic_auth.password_file), not in the config.
    expect(config).toContain('password_file = "/etc/geoswarm-lb/api-password"');
    expect(config).not.toContain("pw-lb-api-password-0123456789abcdef");
  });
});

describe("stack outputs", () => {
  it("exports the balancer API, Consul UI, DOCKER_HOST, host EIPs per region and entry points", async () => {
    const lb = ipOf("balancer");
    expect(await resolved(program.balancerApiUrl)).toBe(`https://${lb}:8888`);
    expect(await resolved(program.consulUiUrl)).toBe(`http://${lb}:8500/ui/`);
    expect(await resolved(program.dockerHost)).toBe(`tcp://${ipOf("swarm-manager")}:2377`);
    const hostIps = await resolved(pulumi.output(program.hostIps));
    expect(hostIps).toEqual(
      Object.fromEntries(Object.entries(HOSTS).map(([r, hs]) => [r, hs.map(ipOf)])),
    );
    expect(await resolved(pulumi.output(program.entryPoints))).toEqual({
      r1nginx: `${lb}:22001`,
      r2nginx: `${lb}:22002`,
    });
    const tls = await resolved(program.dockerClientTls as pulumi.Output<Record<string, string>>);
    expect(Object.keys(tls).sort()).toEqual(["caPem", "certPem", "keyPem"]);
  });
});
