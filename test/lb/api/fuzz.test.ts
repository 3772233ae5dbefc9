// Generated malformed bodies against POST and PUT: every answer must be a 4xx naming a field path,
// the process must not crash, and another server must keep serving traffic throughout.
// (A generated body may happen to be valid; it is then applied and, for POST, deleted again.)
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, serverBody, startWithApi } from "../support/api";
import { nameServer, request, type TestTcpServer } from "../support/net";

let lb: Awaited<ReturnType<typeof startWithApi>>;
let backend: TestTcpServer;

beforeAll(async () => {
  backend = await nameServer("ok");
  lb = await startWithApi(`
[servers.web]
bind = "127.0.0.1:0"
[servers.web.discovery]
kind = "static"
static_list = ["127.0.0.1:${backend.port}"]
[servers.target]
bind = "127.0.0.1:0"
[servers.target.discovery]
kind = "static"
static_list = ["127.0.0.1:${backend.port}"]
`);
});
afterAll(async () => {
  await lb.stop(0);
  await backend.close();
});

const KEYS = [
  "bind",
  "protocol",
  "balance",
  "max_connections",
  "client_idle_timeout",
  "backend_idle_timeout",
  "backend_connection_timeout",
  "backend_connection_retries",
  "discovery",
  "healthcheck",
  "access",
  "proxy_protocol",
  "udp",
  "sni",
  "tls",
];
const DISCOVERY_KEYS = [
  "kind",
  "failpolicy",
  "interval",
  "timeout",
  "static_list",
  "exec_command",
  "docker_endpoint",
  "consul_host",
];
const HEALTH_KEYS = [
  "kind",
  "interval",
  "timeout",
  "fails",
  "passes",
  "initial_status",
  "probe_send",
  "probe_recv",
  "probe_strategy",
];

/** Values that are wrong in interesting ways: wrong types, edge numbers, bad strings. */
const junk = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
  fc.double(),
  fc.constantFrom(
    "",
    "0",
    "-1s",
    "1x",
    "10 seconds",
    "weight",
    "tcp",
    "udp",
    "127.0.0.1:99999",
    "[::1]",
    ":::",
    "\\x4",
    "\u0000",
    "a".repeat(5000),
  ),
  fc.string(),
  fc.array(fc.oneof(fc.string(), fc.integer()), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string(), fc.integer()), { maxKeys: 3 }),
);
const section = (keys: string[]) =>
  fc.dictionary(fc.constantFrom(...keys), junk, { maxKeys: keys.length });

/** A body that is mostly valid with one or more broken parts, or not an object at all. */
const malformedBody = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({
        base: section(KEYS),
        discovery: section(DISCOVERY_KEYS),
        healthcheck: section(HEALTH_KEYS),
      })
      .map(({ base, discovery, healthcheck }) =>
        JSON.stringify({ ...base, discovery: { kind: "static", ...discovery }, healthcheck }),
      ),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.constantFrom(...KEYS), junk).map(([k, v]) =>
      JSON.stringify({
        ...serverBody("127.0.0.1:1", ["127.0.0.1:2"]),
        [k]: v,
        bind: k === "bind" ? v : "nope",
      }),
    ),
  },
  { weight: 1, arbitrary: junk.map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
);

describe("malformed API bodies", () => {
  it("answer 4xx with a field path for 600 generated bodies, without crashing or disturbing traffic", async () => {
    const statuses = new Map<number, number>();
    let n = 0;
    // Traffic through another server for the whole run: every request must be served.
    const webPort = Number(lb.balancer.servers.get("web")!.boundAddress().split(":")[1]);
    let fuzzing = true;
    let served = 0;
    const failures: string[] = [];
    const traffic = (async () => {
      while (fuzzing) {
        const res = await request(webPort);
        if (res.data === "ok\n") served++;
        else failures.push(res.error ?? res.data);
      }
    })();
    await fc.assert(
      fc.asyncProperty(malformedBody, fc.constantFrom("POST", "PUT"), async (body, method) => {
        n++;
        const res = await call(
          lb.base,
          method,
          method === "POST" ? `/servers/fuzz${n}` : "/servers/target",
          body,
          { raw: true },
        );
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        // A generated body may happen to be valid: then POST creates and PUT updates; undo it.
        if (res.status === 200) {
          if (method === "POST") await call(lb.base, "DELETE", `/servers/fuzz${n}`);
          return;
        }
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        const err = res.json as { error: string; problems?: string[] };
        const messages = err.problems ?? [err.error];
        for (const m of messages)
          expect(m).toMatch(/^(\(body\)|name|bind|[a-z_]+(\.[a-z_]+|\[\d+\])*)[:.]/);
      }),
      { numRuns: 600 },
    );
    expect(n).toBe(600);
    expect([...statuses.keys()].every((s) => s === 200 || (s >= 400 && s < 500))).toBe(true);
    const rejected = [...statuses]
      .filter(([s]) => s >= 400)
      .reduce((sum, [, count]) => sum + count, 0);
    expect(rejected).toBeGreaterThanOrEqual(500);
    fuzzing = false;
    await traffic;
    expect(failures).toEqual([]);
    expect(served).toBeGreaterThan(10);
  }, 120_000);
});
