// The regional entry points of the prod stack (Pulumi.prod.yaml) as LbServer resources, built
// with the Pulumi engine and every provider replaced by mocks (support/mocks.ts), plus the pure
// server spec checked against the balancer's real schema.
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import type { Balancer } from "../../components/balancer";
import type { Cluster } from "../../components/cluster";
import { type EntryPointSpec, parseClusterSpec } from "../../components/config";
import { buildEntryPoints, entryPointServer } from "../../components/entry-points";
import type { SwarmManager } from "../../components/swarm-manager";
import { validateServer } from "../../lb/src/config";
import {
  fakeIp,
  installMocks,
  isSecretValue,
  type Recorded,
  resolved,
  settled,
} from "./support/mocks";
import { prodConfig } from "./support/stack";

const LB_SERVER = "pulumi-nodejs:dynamic/geoswarm:LbServer";
const TLS = {
  cacertPath: "/etc/geoswarm-lb/docker/ca.pem",
  certPath: "/etc/geoswarm-lb/docker/cert.pem",
  keyPath: "/etc/geoswarm-lb/docker/key.pem",
};
const NO_DEFAULTS = {
  max_connections: 0,
  client_idle_timeout: "0",
  backend_idle_timeout: "0",
  backend_connection_timeout: "0",
};

let recorded: Recorded[];
let cluster: Cluster;
const lbServer = (name: string) => {
  const found = recorded.filter((r) => r.type === LB_SERVER && r.name === name);
  expect(found, name).toHaveLength(1);
  return found[0];
};

beforeAll(async () => {
  recorded = await installMocks();
  const { Cluster } = await import("../../components/cluster");
  cluster = new Cluster("test", {
    spec: parseClusterSpec(prodConfig()),
    sshPrivateKey: pulumi.secret("key"),
  });
  await resolved(pulumi.all(cluster.entryPoints));
  await settled(recorded);
});

describe("entry points of the prod stack", () => {
  it("registers one LbServer per entry point (r1nginx, r2nginx) and nothing else", () => {
    expect(recorded.filter((r) => r.type === LB_SERVER).map((r) => r.name)).toEqual([
      "r1nginx",
      "r2nginx",
    ]);
    expect(Object.keys(cluster.lbServers)).toEqual(["r1nginx", "r2nginx"]);
  });

  it("talks to the balancer's API over TLS with its login and the cluster CA pinned, the whole API block secret", () => {
    const r = lbServer("r1nginx");
    const ca = recorded.find(
      (x) => x.type === "tls:index/selfSignedCert:SelfSignedCert" && x.name === "docker-ca-cert",
    );
    expect(ca).toBeDefined();
    expect(r.inputs.api).toEqual({
      url: `https://${fakeIp("geoswarm-balancer")}:8888`,
      username: "geoswarm",
      password: "pw-lb-api-password-0123456789abcdef",
      caPem: expect.stringContaining("docker-ca-cert"),
    });
    expect(isSecretValue(r.raw.api)).toBe(true);
    expect(r.inputs.__provider).not.toContain("pw-lb-api-password");
  });

  it("carries the balancer instance's id, so a replaced balancer gets its servers registered again", () => {
    for (const name of ["r1nginx", "r2nginx"]) {
      expect(lbServer(name).inputs.balancerId, name).toBe("lb-vm-id");
    }
  });

  it("discovers the service=<region>.nginx containers through the Swarm manager over TLS", () => {
    for (const [name, region, port] of [
      ["r1nginx", "region-1", 22001],
      ["r2nginx", "region-2", 22002],
    ] as const) {
      expect(lbServer(name).inputs.server).toEqual({
        bind: `0.0.0.0:${port}`,
        protocol: "tcp",
        balance: "weight",
        discovery: {
          kind: "docker",
          docker_endpoint: `tcp://${fakeIp("geoswarm-swarm-manager")}:2377`,
          docker_container_label: `service=${region}.nginx`,
          docker_container_private_port: 80,
          docker_tls_enabled: true,
          docker_tls_cacert_path: TLS.cacertPath,
          docker_tls_cert_path: TLS.certPath,
          docker_tls_key_path: TLS.keyPath,
          interval: "10s",
          timeout: "5s",
          failpolicy: "keeplast",
        },
        healthcheck: { kind: "ping", interval: "2s", timeout: "1s", fails: 1, passes: 1 },
        access: null,
      });
    }
  });

  it("registers servers the balancer accepts, with TLS files where the Balancer installs them", () => {
    expect(cluster.balancer.dockerTls).toEqual(TLS);
    for (const name of ["r1nginx", "r2nginx"]) {
      const { server } = lbServer(name).inputs;
      expect(() => validateServer(name, server, NO_DEFAULTS, { pathPrefix: "" })).not.toThrow();
    }
  });

  it("exports each entry point's address once its server is registered", async () => {
    expect(await resolved(pulumi.output(cluster.entryPoints))).toEqual({
      r1nginx: `${fakeIp("geoswarm-balancer")}:22001`,
      r2nginx: `${fakeIp("geoswarm-balancer")}:22002`,
    });
  });
});

describe("entryPointServer", () => {
  const spec = (over: Partial<EntryPointSpec> = {}): EntryPointSpec => ({
    name: "r3nginx",
    region: "region-3",
    serviceLabel: "region-3.nginx",
    privatePort: 8080,
    lbPort: 22003,
    balance: "leastconn",
    healthcheck: { kind: "none", interval: "2s", timeout: "1s", fails: 1, passes: 1 },
    allowedCidr: "198.51.100.0/24",
    ...over,
  });

  it("limits access to allowedCidr and leaves out the health check when kind is none", () => {
    const server = entryPointServer(spec(), "tcp://203.0.113.9:2376", TLS) as Record<
      string,
      unknown
    >;
    expect(server.access).toEqual({ default: "deny", rules: ["allow 198.51.100.0/24"] });
    expect(server.healthcheck).toEqual({ kind: "none" });
    const { server: valid } = validateServer("r3nginx", server, NO_DEFAULTS, { pathPrefix: "" });
    expect(valid).toMatchObject({ balance: "leastconn", bind: "0.0.0.0:22003" });
    expect(valid.discovery.docker_container_private_port).toBe(8080);
  });

  it("refuses entry points when the Balancer has no docker client TLS", () => {
    const balancer = { dockerTls: undefined } as unknown as Balancer;
    expect(() => buildEntryPoints([spec()], balancer, {} as SwarmManager)).toThrow(
      "entry points need docker discovery TLS on the balancer: create the Balancer with dockerCa",
    );
    expect(buildEntryPoints([], balancer, {} as SwarmManager)).toEqual({});
  });
});
