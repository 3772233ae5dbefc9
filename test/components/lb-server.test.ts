// LbServer without a balancer: the provider's check and diff called directly (they load the real
// schema bundle lb/dist/config.cjs, built by the global setup), and the resource registered
// against Pulumi's mock engine. No Pulumi engine exists here, so the mock tests check the
// documented contract: type token `pulumi-nodejs:dynamic/<module>:<type>`, inputs including the
// serialized provider as `__provider`, secrets as wrapped values (pulumi-notes §2.2, §2.8).
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { LbServer, type LbServerSpec } from "../../components/lb-server";
import {
  API_WAIT,
  type LbServerState,
  lbServerProvider,
  SCHEMA_MODULE,
  serversApi,
  UNKNOWN,
} from "../../components/lb-server-provider";
import { validateServer } from "../../lb/src/config";
import { hangingPort, refusingPort } from "../lb/support/net";
import { installMocks, isSecretValue, type Recorded, secretOf, settled } from "./support/mocks";

const API = { url: "http://127.0.0.1:8888", username: "admin", password: "s3cret-pass" };
const server = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  bind: "0.0.0.0:22001",
  discovery: { kind: "static", static_list: ["10.0.0.1:80"] },
  ...extra,
});
const spec = (): LbServerSpec => ({
  bind: "0.0.0.0:22001",
  discovery: { kind: "static", static_list: ["10.0.0.1:80"] },
});
const inputs = (over: Partial<LbServerState> = {}): LbServerState => ({
  serverName: "r1nginx",
  api: { ...API },
  server: server(),
  ...over,
});
const check = (news: Record<string, unknown>) => lbServerProvider.check({}, news);
/** State as create leaves it, with the config the balancer would report. */
function state(over: Partial<LbServerState> = {}, balancerDefaults = {}): LbServerState {
  const s = inputs(over);
  const effective = validateServer(
    s.serverName,
    s.server,
    {
      max_connections: 0,
      client_idle_timeout: "0",
      backend_idle_timeout: "0",
      backend_connection_timeout: "0",
      ...balancerDefaults,
    },
    { pathPrefix: "" },
  ).server;
  return { ...s, effective: JSON.parse(JSON.stringify(effective)), bind: effective.bind };
}

describe("check: the balancer's schema, each failure naming its property", () => {
  it("passes a valid server and returns the inputs unchanged", async () => {
    const news = { ...inputs(), __provider: "text" };
    expect(await check(news)).toEqual({ inputs: news, failures: [] });
  });

  it("reports every schema problem under server.<path>", async () => {
    const { failures } = await check({
      ...inputs(),
      server: { bind: "nowhere", balance: "random", discovery: { kind: "docker" } },
    });
    expect(failures.map((f) => f.property).sort()).toEqual([
      "server.balance",
      "server.bind",
      "server.discovery.docker_container_private_port",
      "server.discovery.docker_endpoint",
    ]);
    const balance = failures.find((f) => f.property === "server.balance");
    expect(balance?.reason).toMatch(/^expected one of .*"roundrobin".*, got "random"$/);
  });

  it("uses the same messages as the balancer's API (validateServer with pathPrefix '')", async () => {
    const raw = { bind: "0.0.0.0:1", discovery: { kind: "exec", exec_command: [] } };
    let expected: string[] = [];
    try {
      validateServer("x", raw, { max_connections: 0 } as never, { pathPrefix: "" });
    } catch (err) {
      expected = (err as { problems: string[] }).problems;
    }
    expect(expected.length).toBeGreaterThan(0);
    const { failures } = await check({ ...inputs(), server: raw });
    expect(failures.map((f) => `${f.property.replace(/^server\./, "")}: ${f.reason}`)).toEqual(
      expected,
    );
  });

  it("skips problems of values not known yet (preview) but still reports the others", async () => {
    const { failures } = await check({
      ...inputs(),
      server: {
        bind: "0.0.0.0:22001",
        balance: "nope",
        discovery: { kind: "docker", docker_endpoint: UNKNOWN, docker_container_private_port: 80 },
      },
    });
    expect(failures.map((f) => f.property)).toEqual(["server.balance"]);
    expect((await check({ ...inputs(), server: UNKNOWN } as never)).failures).toEqual([]);
    expect((await check({ ...inputs(), api: UNKNOWN } as never)).failures).toEqual([]);
  });

  it("checks serverName and the API without echoing the password", async () => {
    const { failures } = await check({
      serverName: "-bad name",
      api: { url: "ftp://x", username: "", password: 12345 },
      server: "not a table",
    });
    expect(failures).toEqual([
      {
        property: "serverName",
        reason:
          'expected 1-128 letters, digits, ".", "_" or "-" starting with a letter or digit, got "-bad name"',
      },
      {
        property: "api.url",
        reason:
          'expected an http:// or https:// URL such as "http://203.0.113.10:8888", got "ftp://x"',
      },
      { property: "api.username", reason: 'expected a non-empty string, got ""' },
      { property: "api.password", reason: "expected a string, got a number" },
      {
        property: "server",
        reason: 'expected a server table (bind, discovery, ...), got "not a table"',
      },
    ]);
    expect(JSON.stringify(failures)).not.toContain("12345");
    expect((await check({ ...inputs(), api: undefined } as never)).failures).toEqual([
      { property: "api", reason: "expected { url, username, password }, got nothing" },
    ]);
  });

  it("checks api.caPem (a PEM certificate, only for https://) and balancerId", async () => {
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const https = "https://203.0.113.10:8888";
    expect(
      (await check({ ...inputs(), api: { ...API, url: https, caPem: pem } })).failures,
    ).toEqual([]);
    expect((await check({ ...inputs(), api: { ...API, caPem: pem } })).failures).toEqual([
      {
        property: "api.caPem",
        reason: 'a CA only applies to https:// URLs, but api.url is "http://127.0.0.1:8888"',
      },
    ]);
    expect(
      (await check({ ...inputs(), api: { ...API, url: https, caPem: "not a pem" } })).failures,
    ).toEqual([
      {
        property: "api.caPem",
        reason: 'expected a PEM certificate ("-----BEGIN CERTIFICATE-----..."), got "not a pem"',
      },
    ]);
    expect((await check({ ...inputs(), balancerId: "" })).failures).toEqual([
      {
        property: "balancerId",
        reason: 'expected the balancer instance\'s id (a non-empty string), got ""',
      },
    ]);
    expect((await check({ ...inputs(), balancerId: UNKNOWN })).failures).toEqual([]);
  });

  it("loads the schema from the bundle next to the package's balancer artifact", () => {
    expect(SCHEMA_MODULE).toMatch(/\/lb\/dist\/config\.cjs$/);
  });
});

describe("diff", () => {
  const diff = (olds: LbServerState, news: LbServerState) =>
    lbServerProvider.diff("r1nginx", olds, news);

  it("reports no change when old and new are equal after defaults", async () => {
    expect(await diff(state(), inputs())).toEqual({ changes: false });
    const explicit = server({
      protocol: "tcp",
      balance: "weight",
      backend_connection_retries: 2,
      discovery: { kind: "static", static_list: ["10.0.0.1:80"], failpolicy: "keeplast" },
      healthcheck: { kind: "none" },
    });
    expect(await diff(state(), inputs({ server: explicit }))).toEqual({ changes: false });
    // Old state without the balancer's report (older provider versions): compares inputs.
    expect(await diff(inputs(), inputs({ server: explicit }))).toEqual({ changes: false });
  });

  it("ignores connection options the server leaves to the balancer's [defaults]", async () => {
    const olds = state({}, { client_idle_timeout: "30s", max_connections: 100 });
    expect(await diff(olds, inputs())).toEqual({ changes: false });
    expect(await diff(olds, inputs({ server: server({ client_idle_timeout: "10s" }) }))).toEqual({
      changes: true,
    });
  });

  it("updates in place (PUT) whatever changes in the server, bind and protocol included", async () => {
    for (const change of [
      { bind: "0.0.0.0:22009" },
      { protocol: "udp", client_idle_timeout: "30s" },
      { balance: "leastconn" },
      { healthcheck: { kind: "ping", interval: "2s" } },
      { discovery: { kind: "static", static_list: ["10.0.0.2:80"] } },
      { access: { default: "deny", rules: ["allow 10.0.0.0/8"] } },
    ]) {
      expect(
        await diff(state(), inputs({ server: server(change) })),
        JSON.stringify(change),
      ).toEqual({ changes: true });
    }
    for (const api of [
      { ...API, password: "rotated" },
      { ...API, caPem: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n" },
    ]) {
      expect(await diff(state(), inputs({ api })), JSON.stringify(api)).toEqual({ changes: true });
    }
  });

  const replace = (...replaces: string[]) => ({
    changes: true,
    replaces,
    deleteBeforeReplace: true,
  });

  it("replaces, deleting first, only what the API cannot update: serverName, api.url", async () => {
    expect(await diff(state(), inputs({ serverName: "other" }))).toEqual(replace("serverName"));
    expect(
      await diff(state(), inputs({ api: { ...API, url: "http://203.0.113.9:8888" } })),
    ).toEqual(replace("api.url"));
  });

  it("updates, not replaces, a new API URL of the same balancer instance (a new apiPort): the old URL no longer answers a delete", async () => {
    const moved = { ...API, url: "http://203.0.113.10:8899" };
    expect(
      await diff(state({ balancerId: "i-0aaa" }), inputs({ balancerId: "i-0aaa", api: moved })),
    ).toEqual({ changes: true });
    // Another instance behind it: replaced as before.
    expect(
      await diff(state({ balancerId: "i-0aaa" }), inputs({ balancerId: "i-0bbb", api: moved })),
    ).toEqual(replace("balancerId"));
  });

  it("replaces on a new balancerId (a new, empty balancer instance), and not otherwise", async () => {
    const on = (balancerId?: string) => state({ balancerId });
    expect(await diff(on("i-0aaa"), inputs({ balancerId: "i-0bbb" }))).toEqual(
      replace("balancerId"),
    );
    // Preview of a replaced instance: its id is not known yet.
    expect(await diff(on("i-0aaa"), inputs({ balancerId: UNKNOWN }))).toEqual(
      replace("balancerId"),
    );
    expect(await diff(on("i-0aaa"), inputs({ balancerId: "i-0aaa" }))).toEqual({ changes: false });
    // Together with a server change: still one replace, the new config goes with the create.
    expect(
      await diff(
        on("i-0aaa"),
        inputs({ balancerId: "i-0bbb", server: server({ balance: "iphash" }) }),
      ),
    ).toEqual(replace("balancerId"));
    // State written without one (an older provider): recorded by an update; PUT re-creates a
    // server the balancer lost. Dropping it is an update too.
    expect(await diff(on(undefined), inputs({ balancerId: "i-0bbb" }))).toEqual({ changes: true });
    expect(await diff(on("i-0aaa"), inputs())).toEqual({ changes: true });
  });

  it("shows drift: the balancer's refreshed config differs from the inputs", async () => {
    const refreshed = state();
    refreshed.effective = { ...refreshed.effective!, balance: "roundrobin" };
    expect(await diff(refreshed, inputs())).toEqual({ changes: true });
  });

  it("with unknown values (preview): updates, also when the bind may move", async () => {
    const unknownEndpoint = server({
      discovery: { kind: "docker", docker_endpoint: UNKNOWN, docker_container_private_port: 80 },
    });
    expect(await diff(state(), inputs({ server: unknownEndpoint }))).toEqual({ changes: true });
    expect(
      await diff(state(), inputs({ server: server({ bind: UNKNOWN, balance: UNKNOWN }) })),
    ).toEqual({ changes: true });
  });
});

describe("LbServer resource (Pulumi mocks)", () => {
  let recorded: Recorded[];
  beforeAll(async () => {
    recorded = await installMocks();
  });
  const registered = (name: string) => {
    const found = recorded.filter(
      (r) => r.type === "pulumi-nodejs:dynamic/geoswarm:LbServer" && r.name === name,
    );
    expect(found).toHaveLength(1);
    return found[0];
  };

  it("registers the server, the API with a secret password, and the serialized provider", async () => {
    const res = new LbServer("r1nginx", { api: API, server: spec() });
    await settled(recorded);
    const r = registered("r1nginx");
    expect(r.inputs).toMatchObject({ serverName: "r1nginx", api: API, server: server() });
    // The SDK marks the whole `api` object secret because the password inside it is.
    expect(isSecretValue(r.raw.api)).toBe(true);
    expect(isSecretValue(r.raw.server)).toBe(false);
    // Output-only properties (effective, bind) are registered as undefined, so not sent.
    expect(Object.keys(r.inputs).sort()).toEqual(["__provider", "api", "server", "serverName"]);
    // The provider text: present, free of the password, not secret (nothing secret captured).
    expect(typeof r.inputs.__provider).toBe("string");
    expect(r.inputs.__provider).toContain("exports.handler");
    expect(r.inputs.__provider).not.toContain("s3cret-pass");
    expect(isSecretValue(r.raw.__provider)).toBe(false);
    expect(await secretOf(res.api)).toBe(true);
    expect(await secretOf(res.serverName)).toBe(false);
  });

  it("takes Outputs at any depth and a serverName other than the resource name", async () => {
    new LbServer("entry", {
      serverName: "r2nginx",
      api: { ...API, url: pulumi.output("http://203.0.113.7:8888") },
      server: {
        bind: pulumi.output("0.0.0.0:22002"),
        discovery: { kind: "docker", docker_endpoint: pulumi.output("tcp://203.0.113.8:2377") },
      },
    });
    await settled(recorded);
    expect(registered("entry").inputs).toMatchObject({
      serverName: "r2nginx",
      api: { url: "http://203.0.113.7:8888" },
      server: {
        bind: "0.0.0.0:22002",
        discovery: { kind: "docker", docker_endpoint: "tcp://203.0.113.8:2377" },
      },
    });
  });

  it("registers the balancer's identity and the API's CA, the CA inside the secret api", async () => {
    const caPem = "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n";
    new LbServer("pinned", {
      api: { ...API, url: "https://203.0.113.7:8888", caPem: pulumi.output(caPem) },
      balancerId: pulumi.output("i-0abc"),
      server: spec(),
    });
    await settled(recorded);
    const r = registered("pinned");
    expect(r.inputs).toMatchObject({ balancerId: "i-0abc", api: { caPem } });
    expect(isSecretValue(r.raw.api)).toBe(true);
    expect(Object.keys(r.inputs).sort()).toEqual([
      "__provider",
      "api",
      "balancerId",
      "server",
      "serverName",
    ]);
  });

  it("rejects missing arguments, naming them", () => {
    expect(
      () => new LbServer("x", { api: { ...API, password: undefined as never }, server: spec() }),
    ).toThrow("LbServer x: api.password: required");
    expect(() => new LbServer("y", { api: API, server: undefined as never })).toThrow(
      "LbServer y: server: required",
    );
    expect(() => new LbServer("z", undefined as never)).toThrow("LbServer z: args: expected");
  });
});

describe("waiting for an API that does not accept connections (bounded)", () => {
  const wait = { totalMs: 1500, connectTimeoutMs: 300, firstDelayMs: 100, maxDelayMs: 400 };

  it("defaults to two minutes in all, ten seconds per connect", () => {
    expect(API_WAIT).toMatchObject({ totalMs: 120_000, connectTimeoutMs: 10_000 });
  });

  it("retries a refused connection with backoff, then says what it waited for and how long", async () => {
    const refusing = await refusingPort();
    try {
      const api = { ...API, url: `http://127.0.0.1:${refusing.port}` };
      const started = Date.now();
      const err = await serversApi(api, "POST", "r1nginx", {}, wait).catch((e: Error) => e);
      const ms = Date.now() - started;
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(
        new RegExp(
          `^POST http://127\\.0\\.0\\.1:${refusing.port}/servers/r1nginx: the balancer API did not accept a connection within 1\\.\\d s \\(last attempt: connect ECONNREFUSED 127\\.0\\.0\\.1:${refusing.port}\\); check that the balancer service runs and that its API port is reachable from here`,
        ),
      );
      // Backoff 100, 200, 400, 400 ms: within the budget, and it did wait.
      expect(ms).toBeGreaterThanOrEqual(1000);
      expect(ms).toBeLessThan(3000);
      expect((err as Error).message).not.toContain(API.password);
    } finally {
      refusing.close();
    }
  });

  it("treats a connect that hangs (packets dropped) like a refusal: timed out, retried, bounded", async () => {
    const hanging = await hangingPort();
    try {
      const api = { ...API, url: `http://127.0.0.1:${hanging.port}` };
      const started = Date.now();
      const err = await serversApi(api, "GET", "r1nginx", undefined, wait).catch((e: Error) => e);
      expect((err as Error).message).toMatch(
        /the balancer API did not accept a connection within \d\.\d s \(last attempt: connect timeout after 300 ms\)/,
      );
      expect(Date.now() - started).toBeLessThan(4000);
    } finally {
      hanging.close();
    }
  });
});
