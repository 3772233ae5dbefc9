// consul discovery against a TEST DOUBLE of Consul's HTTP API (support/consul-double.ts; no
// Consul binary exists on our machines): query parameters, address choice, sni tags, ACL token,
// basic auth, TLS with client certificates, blocking queries delivering changes at once.
import { rmSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { makePki } from "./support/certs";
import { ConsulDouble } from "./support/consul-double";
import { type Started, startDiscovery, waitFor } from "./support/helpers";

const doubles: ConsulDouble[] = [];
const runs: Started[] = [];
afterEach(async () => {
  for (const r of runs.splice(0)) r.stop();
  for (const d of doubles.splice(0)) await d.stop();
});

async function double(opts: ConstructorParameters<typeof ConsulDouble>[0] = {}) {
  const d = new ConsulDouble(opts);
  await d.start();
  doubles.push(d);
  return d;
}

function run(body: string): Started {
  const r = startDiscovery(body);
  runs.push(r);
  return r;
}

const web = [
  { id: "w1", node: "n1", nodeAddress: "10.0.0.1", port: 8080, tags: ["v1", "sni=a", "sni=b"] },
  {
    id: "w2",
    node: "n2",
    nodeAddress: "10.0.0.2",
    address: "192.168.0.2",
    port: 8081,
    tags: ["v2"],
  },
  {
    id: "w3",
    node: "n3",
    nodeAddress: "10.0.0.3",
    address: "fd00::3",
    port: 8082,
    tags: ["v1"],
    checks: ["passing", "critical"] as Array<"passing" | "critical">,
  },
];

describe("consul discovery (against a test double of Consul's HTTP API)", () => {
  it("maps Service.Address, else Node.Address; last sni= tag; IPv6 in brackets", async () => {
    const c = await double();
    c.set("web", web);
    const d = run(`kind = "consul"\nconsul_host = "${c.address}"\nconsul_service_name = "web"`);
    await waitFor(() => d.updates.length >= 1, "first list");
    expect(d.updates[0]).toEqual([
      { host: "10.0.0.1", port: 8080, weight: 1, priority: 1, max_connections: 0, sni: "b" },
      { host: "192.168.0.2", port: 8081, weight: 1, priority: 1, max_connections: 0, sni: "" },
      { host: "[fd00::3]", port: 8082, weight: 1, priority: 1, max_connections: 0, sni: "" },
    ]);
    const first = c.requests[0];
    expect(first.path).toBe("/v1/health/service/web");
    expect([...first.query.keys()]).toEqual([]);
    expect(first.headers["x-consul-token"]).toBeUndefined();
    expect(first.headers.authorization).toBeUndefined();
  });

  it("sends tag, passing, dc (also spelled consul_service_datacenter) and the ACL token", async () => {
    const c = await double({ datacenter: "eu1", aclToken: "s3cret" });
    c.set("web", web);
    const d = run(
      `kind = "consul"\nconsul_host = "${c.address}"\nconsul_service_name = "web"\nconsul_service_tag = "v1"\nconsul_service_passing_only = true\nconsul_service_datacenter = "eu1"\nconsul_acl_token = "s3cret"`,
    );
    await waitFor(() => d.updates.length >= 1, "first list");
    expect(d.current()).toEqual(["10.0.0.1:8080"]);
    const q = c.requests[0].query;
    expect(q.get("tag")).toBe("v1");
    expect(q.get("passing")).toBe("1");
    expect(q.get("dc")).toBe("eu1");
    expect(c.requests[0].headers["x-consul-token"]).toBe("s3cret");
  });

  it("reports ACL and datacenter errors as failures naming the status", async () => {
    const c = await double({ aclToken: "right" });
    c.set("web", web);
    const d = run(
      `kind = "consul"\nconsul_host = "${c.address}"\nconsul_service_name = "web"\nconsul_acl_token = "wrong"`,
    );
    await waitFor(() => d.records.some((r) => r.msg === "discovery failed"), "failure");
    expect(d.records.find((r) => r.msg === "discovery failed")?.err).toBe(
      `GET http://${c.address}/v1/health/service/web: HTTP 403 (13 bytes)`,
    );
    const c2 = await double();
    const d2 = run(
      `kind = "consul"\nconsul_host = "${c2.address}"\nconsul_service_name = "web"\nconsul_datacenter = "mars"`,
    );
    await waitFor(() => d2.records.some((r) => r.msg === "discovery failed"), "failure");
    expect(d2.records.find((r) => r.msg === "discovery failed")?.err).toContain(
      "HTTP 500 (21 bytes)",
    );
    expect(d.updates).toEqual([]);
  });

  it("sends HTTP basic auth when a user name is configured", async () => {
    const c = await double({ basicAuth: { user: "lb", password: "pw" } });
    c.set("web", web.slice(0, 1));
    const d = run(
      `kind = "consul"\nconsul_host = "http://${c.address}"\nconsul_service_name = "web"\nconsul_auth_username = "lb"\nconsul_auth_password = "pw"`,
    );
    await waitFor(() => d.updates.length >= 1, "first list");
    expect(d.current()).toEqual(["10.0.0.1:8080"]);
  });

  it("speaks TLS with a client certificate and the configured CA", async () => {
    const pki = makePki();
    try {
      const c = await double({
        tls: {
          key: pki.read(pki.serverKey),
          cert: pki.read(pki.serverCert),
          ca: pki.read(pki.caCert),
        },
      });
      c.set("web", web.slice(0, 1));
      const d = run(
        `kind = "consul"\nconsul_host = "${c.address}"\nconsul_service_name = "web"\nconsul_tls_enabled = true\nconsul_tls_cert_path = "${pki.clientCert}"\nconsul_tls_key_path = "${pki.clientKey}"\nconsul_tls_cacert_path = "${pki.caCert}"`,
      );
      await waitFor(() => d.updates.length >= 1, "first list over TLS");
      expect(d.current()).toEqual(["10.0.0.1:8080"]);
      // Without the client certificate the double refuses the handshake.
      const bad = run(
        `kind = "consul"\nconsul_host = "${c.address}"\nconsul_service_name = "web"\nconsul_tls_enabled = true\nconsul_tls_cacert_path = "${pki.caCert}"`,
      );
      await waitFor(() => bad.records.some((r) => r.msg === "discovery failed"), "TLS failure");
      expect(bad.updates).toEqual([]);
    } finally {
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });

  it("blocking queries deliver a change at once, long before the resync interval", async () => {
    const c = await double();
    c.set("web", web.slice(0, 1));
    const d = run(
      `kind = "consul"\nconsul_host = "${c.address}"\nconsul_service_name = "web"\ninterval = "1m"`,
    );
    await waitFor(() => d.updates.length >= 1, "first list");
    await waitFor(
      () => c.requests.some((r) => r.query.get("index") === String(c.currentIndex)),
      "a blocking query parked on the current index",
    );
    const parked = c.requests.find((r) => r.query.has("index"));
    expect(parked?.query.get("wait")).toBe("30s");
    c.set("web", web.slice(0, 2));
    const ms = await waitFor(
      () => d.current()?.join() === "10.0.0.1:8080,192.168.0.2:8081",
      "the change",
      1000,
    );
    expect(ms).toBeLessThan(500);
    // The index going backwards resets it: the next query has index 0 (returns at once) and the
    // loop then parks on the new index instead of spinning.
    await waitFor(
      () => c.requests.some((r) => r.query.get("index") === String(c.currentIndex)),
      "a blocking query parked on the new index",
    );
    c.resetIndex(1);
    c.set("web", web.slice(1, 2));
    await waitFor(() => d.current()?.join() === "192.168.0.2:8081", "change after reset", 500);
    await waitFor(
      () => c.requests.at(-1)?.query.get("index") === "2",
      "the loop parked on the new, lower index",
      500,
    );
    const before = c.requests.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(c.requests.length - before).toBeLessThanOrEqual(2);
  });

  it("falls back to polling and recovers when Consul goes away and comes back", async () => {
    const c = await double();
    c.set("web", web.slice(0, 1));
    const d = run(
      `kind = "consul"\nconsul_host = "${c.address}"\nconsul_service_name = "web"\ninterval = "1m"`,
    );
    await waitFor(() => d.updates.length >= 1, "first list");
    const port = c.port;
    await c.stop();
    doubles.splice(doubles.indexOf(c), 1);
    await waitFor(() => d.records.some((r) => r.msg.startsWith("discovery watch lost")), "loss");
    const again = new ConsulDouble();
    await again.start(port);
    doubles.push(again);
    again.set("web", web.slice(1, 2));
    await waitFor(() => d.current()?.join() === "192.168.0.2:8081", "list after restart", 8000);
    expect(d.records.filter((r) => r.msg.startsWith("discovery watch lost"))).toHaveLength(1);
  });
});
