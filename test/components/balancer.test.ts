// The Balancer component under Pulumi mocks: on its own (as a consumer stack would use it, with a
// fake firewall rule) and inside the prod program (runProgram). Checks what the renderers' tests
// cannot: which files are copied, what the config on the host says, the API's certificate and
// URL, and the ordering edges of the remote commands.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "smol-toml";
import { beforeAll, describe, expect, it } from "vitest";
import type * as lib from "../../components";
import {
  fakeIp,
  installMocks,
  isSecretValue,
  type Recorded,
  resolved,
  settled,
} from "./support/mocks";
import { runProgram } from "./support/program";

const sha256 = (data: string) => createHash("sha256").update(data).digest("hex");
const STAGING = "/home/ubuntu/geoswarm-lb-staging";
/** The Balancer ships the native addon beside the artifact whenever `npm run build:lb` built it. */
const ADDON_BUILT = existsSync(path.join(__dirname, "../../lb/dist/geoswarm-lb.node"));

/** Stands in for a security-group rule: any resource the remote commands must wait for. */
class FakeRule extends pulumi.CustomResource {
  constructor(name: string) {
    super("test:index:FakeRule", name, {});
  }
}

describe("Balancer on its own (with dockerCa and a firewall)", () => {
  let recorded: Recorded[];
  let balancer: lib.Balancer;
  let rules: FakeRule[];
  let balancerUrn: string;
  /** Resources of type `t` whose parent is the Balancer. */
  const mine = (t: string) =>
    recorded.filter((r) => r.type === t && r.options?.parent === balancerUrn);
  const one = (t: string, name: string) => {
    const found = recorded.filter((r) => r.type === t && r.name === name);
    expect(found, `${t} ${name}`).toHaveLength(1);
    return found[0];
  };

  beforeAll(async () => {
    recorded = await installMocks();
    const { Balancer, ConsulCluster, DockerCa, RegionNetwork } = await import("../../components");
    const network = new RegionNetwork("solo-lb-net", {
      awsRegion: "eu-west-1",
      cidr: "10.95.0.0/16",
      sshPublicKey: "ssh-ed25519 AAAA x",
    });
    const ssh = { privateKey: "fake-key" };
    const consul = new ConsulCluster("solo-lb-consul", { network, ssh, servers: 1 });
    const ca = new DockerCa("solo-lb-ca");
    rules = [new FakeRule("ssh-from-operator"), new FakeRule("api-from-operator")];
    balancer = new Balancer("solo-lb", {
      network,
      consul,
      ssh,
      consulClients: ["198.51.100.0/24"],
      dockerCa: ca,
      firewall: rules,
    });
    await resolved(pulumi.all([balancer.apiUrl, balancer.instanceId]));
    await settled(recorded);
    balancerUrn = await resolved(balancer.urn);
  });

  it("makes every remote command depend on each firewall rule", () => {
    const commands = [...mine("command:remote:Command"), ...mine("command:remote:CopyToRemote")];
    expect(commands.map((c) => c.name).sort()).toEqual(
      [
        "solo-lb-copy-api-ca",
        "solo-lb-copy-api-cert",
        "solo-lb-copy-api-key",
        "solo-lb-copy-api-password",
        "solo-lb-copy-artifact",
        "solo-lb-copy-config",
        "solo-lb-copy-docker-ca",
        "solo-lb-copy-docker-cert",
        "solo-lb-copy-docker-key",
        "solo-lb-copy-unit",
        "solo-lb-install",
        "solo-lb-ready",
        "solo-lb-cloud-init",
        "solo-lb-node",
        "solo-lb-consul",
        ...(ADDON_BUILT ? ["solo-lb-copy-addon"] : []),
      ].sort(),
    );
    const ruleUrns = ["ssh-from-operator", "api-from-operator"].map(
      (n) => one("test:index:FakeRule", n).urn,
    );
    expect(ruleUrns.every(Boolean)).toBe(true);
    const dependsOn = (c: Recorded, urn: string | undefined): boolean =>
      (c.options?.dependencies ?? []).some(
        (d) => d === urn || dependsOn(recorded.find((r) => r.urn === d) as Recorded, urn),
      );
    for (const c of commands) {
      for (const urn of ruleUrns) expect(dependsOn(c, urn), c.name).toBe(true);
    }
  });

  it("serves the API over HTTPS with a cluster-CA certificate naming the EIP", async () => {
    const eip = fakeIp("solo-lb-eip");
    expect(await resolved(balancer.apiUrl)).toBe(`https://${eip}:8888`);
    expect(await resolved(balancer.apiCaPem as pulumi.Output<string>)).toBe(
      "-----BEGIN CERTIFICATE-----\nsolo-lb-ca-cert\n-----END CERTIFICATE-----\n",
    );
    const csr = one("tls:index/certRequest:CertRequest", "solo-lb-api-tls-csr");
    expect(csr.inputs.ipAddresses).toContain(eip);
    const cert = one("tls:index/locallySignedCert:LocallySignedCert", "solo-lb-api-tls-cert");
    expect(cert.inputs.allowedUses).toContain("server_auth");
    expect(cert.inputs.caCertPem).toBe(await resolved(balancer.apiCaPem as pulumi.Output<string>));
    // Copied like the docker client files; the key stays secret.
    const copied = (n: string) => one("command:remote:CopyToRemote", `solo-lb-copy-${n}`);
    expect(copied("api-cert").inputs.remotePath).toBe(`${STAGING}/api-cert.pem`);
    expect(copied("api-ca").inputs.remotePath).toBe(`${STAGING}/api-ca.pem`);
    expect(copied("api-key").inputs.remotePath).toBe(`${STAGING}/api-key.pem`);
    expect(isSecretValue(copied("api-key").raw.source)).toBe(true);
    expect(await copied("api-cert").inputs.source.text).toBe(
      "-----BEGIN CERTIFICATE-----\nsolo-lb-api-tls-cert\n-----END CERTIFICATE-----\n",
    );
    // Renewing the certificate re-installs (restarts) the balancer.
    const install = one("command:remote:Command", "solo-lb-install");
    expect(install.inputs.triggers).toContain(
      sha256("-----BEGIN CERTIFICATE-----\nsolo-lb-api-tls-cert\n-----END CERTIFICATE-----\n"),
    );
    expect(install.inputs.create).toContain(
      "put api-key.pem '/etc/geoswarm-lb/api/key.pem' -m 0640 -g 'geoswarm-lb'",
    );
    expect(install.inputs.create).toContain("ping_url='https://127.0.0.1:8888/ping'");
  });

  it("ships a config with [api.tls] at the installed paths and [state] in the StateDirectory", async () => {
    const config = parse(
      await one("command:remote:CopyToRemote", "solo-lb-copy-config").inputs.source.text,
    ) as { api: { tls?: unknown }; state: { path: string } };
    const unit: string = await one("command:remote:CopyToRemote", "solo-lb-copy-unit").inputs.source
      .text;
    expect(config.api.tls).toEqual({
      cert_path: "/etc/geoswarm-lb/api/cert.pem",
      key_path: "/etc/geoswarm-lb/api/key.pem",
    });
    const stateDirectory = /^StateDirectory=(.+)$/m.exec(unit)?.[1];
    expect(stateDirectory).toBeTruthy();
    expect(config.state.path.startsWith(`/var/lib/${stateDirectory}/`)).toBe(true);
  });

  it("exposes its EC2 instance and the instance id (LbServer balancerId, deletedWith)", async () => {
    const vm = one("aws:ec2/instance:Instance", "solo-lb-vm");
    expect(balancer.instance).toBeInstanceOf(pulumi.CustomResource);
    expect(await resolved(balancer.instance.urn)).toBe(vm.urn);
    expect(await resolved(balancer.instanceId)).toBe("solo-lb-vm-id");
  });
});

describe("Balancer in the prod program (runProgram)", () => {
  let recorded: Recorded[];
  let program: Record<string, pulumi.Output<unknown>>;
  beforeAll(async () => {
    ({ recorded, program } = await runProgram());
  }, 120_000);

  it("exports an https API URL and copies the API's certificate and key to the host", async () => {
    const lbIp = fakeIp("geoswarm-balancer");
    expect(await resolved(program.balancerApiUrl as pulumi.Output<string>)).toBe(
      `https://${lbIp}:8888`,
    );
    const copies = recorded.filter((r) => r.type === "command:remote:CopyToRemote");
    const paths = copies.map((c) => c.inputs.remotePath);
    for (const f of ["api-ca.pem", "api-cert.pem", "api-key.pem"]) {
      expect(paths).toContain(`${STAGING}/${f}`);
    }
    const key = copies.find((c) => c.inputs.remotePath === `${STAGING}/api-key.pem`);
    expect(isSecretValue(key?.raw.source)).toBe(true);
    const csr = recorded.find(
      (r) => r.type === "tls:index/certRequest:CertRequest" && r.name.endsWith("-api-tls-csr"),
    );
    expect(csr?.inputs.ipAddresses).toContain(lbIp);
  });
});
