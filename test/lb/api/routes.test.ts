// Every API route with its status codes and JSON shapes, against a real in-process balancer
// serving real traffic on loopback.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiResponse, AUTH, call, serverBody, startWithApi } from "../support/api";
import {
  closedPort,
  nameServer,
  request,
  type TestTcpServer,
  tcpServer,
  waitFor,
} from "../support/net";

let lb: Awaited<ReturnType<typeof startWithApi>>;
let a: TestTcpServer;
let b: TestTcpServer;
const api = (
  method: string,
  path: string,
  body?: unknown,
  opts?: Parameters<typeof call>[4],
): Promise<ApiResponse> => call(lb.base, method, path, body, opts);

beforeAll(async () => {
  a = await nameServer("a");
  b = await nameServer("b");
  lb = await startWithApi(`
[servers.web]
bind = "127.0.0.1:0"
balance = "roundrobin"
[servers.web.discovery]
kind = "static"
static_list = ["127.0.0.1:${a.port}", "127.0.0.1:${b.port} weight=2"]
`);
});
afterAll(async () => {
  await lb.stop(0);
  await a.close();
  await b.close();
});

describe("system routes", () => {
  it("GET /ping needs no auth and answers OK", async () => {
    const res = await api("GET", "/ping", undefined, { auth: null });
    expect(res.status).toBe(200);
    expect(res.text).toBe("OK");
  });

  it("every other route needs basic auth: 401 with a Basic challenge", async () => {
    for (const path of [
      "/",
      "/servers",
      "/servers/web",
      "/servers/web/stats",
      "/dump",
      "/dashboard",
    ]) {
      const res = await api("GET", path, undefined, { auth: null });
      expect(res.status, path).toBe(401);
      expect(res.headers.get("www-authenticate"), path).toMatch(
        /^Basic realm="Authorization Required"/,
      );
    }
    const wrong = `Basic ${Buffer.from(`${AUTH.login}:nope`).toString("base64")}`;
    expect((await api("GET", "/servers", undefined, { auth: wrong })).status).toBe(401);
  });

  it("GET / reports pid, times, uptime, version", async () => {
    const res = await api("GET", "/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(res.json).toMatchObject({ pid: process.pid, version: expect.any(String) });
    const info = res.json as { time: string; startTime: string; uptime: string };
    expect(info.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-]\d\d:\d\d$/);
    expect(info.startTime).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(info.uptime).toMatch(/^[\d.]+(ms|s|m|h)/);
    expect(res.text).toContain('\n    "pid"'); // gobetween's 4-space indentation
  });

  it("GET /dump gives TOML or JSON with the password redacted; other formats are 400", async () => {
    const toml = await api("GET", "/dump");
    expect(toml.status).toBe(200);
    expect(toml.text).toContain("[servers.web]");
    expect(toml.text).not.toContain(AUTH.password);
    expect(toml.text).toContain('password = "<redacted>"');
    const json = await api("GET", "/dump?format=json");
    expect(
      (json.json as { api: { basic_auth: { password: string } } }).api.basic_auth.password,
    ).toBe("<redacted>");
    expect(json.json).toHaveProperty("servers.web.balance", "roundrobin");
    const bad = await api("GET", "/dump?format=yaml");
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual({ error: 'format: expected "toml" or "json", got "yaml"' });
  });

  it("GET /dashboard serves the HTML page", async () => {
    const res = await api("GET", "/dashboard");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(res.text).toContain("<title>geoswarm-lb</title>");
  });

  it("unknown routes are 404 with a JSON error", async () => {
    const res = await api("GET", "/nope");
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ error: "no such route" });
  });
});

describe("server routes", () => {
  it("GET /servers and /servers/:name return configs with gobetween's keys", async () => {
    const all = await api("GET", "/servers");
    expect(all.status).toBe(200);
    const web = (all.json as Record<string, Record<string, unknown>>).web;
    expect(web).toMatchObject({
      bind: "127.0.0.1:0",
      protocol: "tcp",
      balance: "roundrobin",
      max_connections: 0,
      client_idle_timeout: "0",
      discovery: { kind: "static", failpolicy: "keeplast" },
      healthcheck: { kind: "none" },
    });
    const one = await api("GET", "/servers/web");
    expect(one.json).toEqual(web);
  });

  it("unknown server: 200 null on GET, stats and DELETE, as gobetween; PUT (ours) is 404", async () => {
    for (const [method, path] of [
      ["GET", "/servers/ghost"],
      ["GET", "/servers/ghost/stats"],
      ["DELETE", "/servers/ghost"],
    ] as const) {
      const res = await api(method, path);
      expect(res.status, `${method} ${path}`).toBe(200);
      expect(res.text, `${method} ${path}`).toBe("null\n");
    }
    const put = await api("PUT", "/servers/ghost", serverBody("127.0.0.1:0", ["127.0.0.1:1"]));
    expect(put.status).toBe(404);
  });

  it("GET /servers/:name/stats has gobetween's shape, counting real traffic", async () => {
    const port = Number(lb.balancer.servers.get("web")!.boundAddress().split(":")[1]);
    for (let i = 0; i < 4; i++) await request(port);
    await waitFor(
      () => lb.balancer.servers.get("web")!.counters.activeConnections === 0,
      3000,
      "connections to close",
    );
    const stats = (await api("GET", "/servers/web/stats")).json as {
      active_connections: number;
      rx_total: number;
      backends: Array<{
        host: string;
        port: string;
        weight: number;
        stats: Record<string, unknown>;
      }>;
    };
    expect(stats).toMatchObject({
      active_connections: 0,
      rx_total: 8,
      tx_total: 0,
      rx_second: expect.any(Number),
      tx_second: expect.any(Number),
    });
    expect(stats.backends).toHaveLength(2);
    const backendB = stats.backends.find((x) => x.port === String(b.port))!;
    expect(backendB).toMatchObject({ host: "127.0.0.1", priority: 1, weight: 2 });
    expect(Object.keys(backendB.stats).sort()).toEqual(
      [
        "active_connections",
        "discovered",
        "enabled", // geoswarm-lb's own: false after disable/drain
        "live",
        "refused_connections",
        "rx",
        "rx_second",
        "total_connections",
        "tx",
        "tx_second",
      ].sort(),
    );
    expect(stats.backends.reduce((n, x) => n + (x.stats.total_connections as number), 0)).toBe(4);
  });

  it("POST creates a server that serves at once: 200 null; a taken name or bind is 409", async () => {
    const port = await closedPort();
    const created = await api(
      "POST",
      "/servers/r1nginx",
      serverBody(`127.0.0.1:${port}`, [`127.0.0.1:${a.port}`]),
    );
    expect(created.status).toBe(200);
    expect(created.text.trim()).toBe("null");
    expect((await request(port)).data).toBe("a\n");

    const sameName = await api(
      "POST",
      "/servers/r1nginx",
      serverBody("127.0.0.1:0", [`127.0.0.1:${a.port}`]),
    );
    expect(sameName.status).toBe(409);
    expect(sameName.json).toEqual({ error: 'name: server "r1nginx" already exists' });

    const sameBind = await api(
      "POST",
      "/servers/other",
      serverBody(`127.0.0.1:${port}`, [`127.0.0.1:${a.port}`]),
    );
    expect(sameBind.status).toBe(409);
    expect((sameBind.json as { error: string }).error).toBe(
      `bind: tcp 127.0.0.1:${port} is already used by server "r1nginx"`,
    );

    // A port held by another process is a bind conflict too.
    const holder = await tcpServer(() => {});
    const inUse = await api(
      "POST",
      "/servers/other",
      serverBody(`127.0.0.1:${holder.port}`, [`127.0.0.1:${a.port}`]),
    );
    expect(inUse.status).toBe(409);
    expect((inUse.json as { error: string }).error).toBe(
      `bind: 127.0.0.1:${holder.port} is already in use`,
    );
    await holder.close();
    expect((await api("GET", "/servers/other")).json).toBeNull();
  });

  it("POST with a bad body is 400 naming every field path; nothing is created", async () => {
    const res = await api("POST", "/servers/broken", {
      bind: "nowhere",
      balance: "fastest",
      discovery: { kind: "static" },
    });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({
      error: "invalid server configuration",
      problems: [
        'bind: expected host:port with a port 0-65535 (IPv6 hosts in brackets such as "[::1]:80", empty host = all addresses), got "nowhere"',
        'balance: expected one of "weight", "roundrobin", "leastconn", "leastbandwidth", "iphash", "iphash1", got "fastest"',
        expect.stringMatching(/^discovery\.static_list: required/),
      ],
    });
    const notJson = await api("POST", "/servers/broken", "{bind:", { raw: true });
    expect(notJson.status).toBe(400);
    expect((notJson.json as { error: string }).error).toMatch(/^\(body\): expected a JSON object/);
    const badName = await api(
      "POST",
      "/servers/bad%20name",
      serverBody("127.0.0.1:0", ["127.0.0.1:1"]),
    );
    expect(badName.status).toBe(400);
    expect((badName.json as { error: string }).error).toMatch(/^name: /);
    expect((await api("GET", "/servers/broken")).json).toBeNull();
  });

  it("PUT updates in place: a connection to a backend that remains is not dropped; a changed bind re-binds", async () => {
    const holder = await tcpServer((s) => s.on("data", (c) => s.write(c)));
    const port = await closedPort();
    expect(
      (
        await api(
          "POST",
          "/servers/live",
          serverBody(`127.0.0.1:${port}`, [`127.0.0.1:${holder.port}`]),
        )
      ).status,
    ).toBe(200);
    const net = await import("node:net");
    const client = net.connect(port, "127.0.0.1");
    await new Promise((r) => client.on("connect", r));
    let echoed = "";
    client.on("data", (c) => {
      echoed += c;
    });
    client.write("one;");
    await waitFor(() => echoed === "one;", 3000, "first echo");

    const newPort = await closedPort();
    const put = await api(
      "PUT",
      "/servers/live",
      serverBody(`127.0.0.1:${newPort}`, [`127.0.0.1:${holder.port}`, `127.0.0.1:${a.port}`], {
        balance: "leastconn",
      }),
    );
    expect(put.status).toBe(200);
    expect(put.json).toMatchObject({ bind: `127.0.0.1:${newPort}`, balance: "leastconn" });
    client.write("two;");
    await waitFor(() => echoed === "one;two;", 3000, "echo after the update");
    // The new bind serves; the old one no longer accepts.
    expect((await request(newPort, "x")).data).toMatch(/^(x|a\n)$/);
    expect((await request(port)).error).toMatch(/ECONNREFUSED/);
    client.destroy();
    await holder.close();
  });

  it("max_connections counts connections still draining on the old bind after a re-bind", async () => {
    const holder = await tcpServer((s) => {
      s.write("hi\n");
      s.on("end", () => s.end());
    });
    const port = await closedPort();
    const body = (bind: number) =>
      serverBody(`127.0.0.1:${bind}`, [`127.0.0.1:${holder.port}`], { max_connections: 1 });
    expect((await api("POST", "/servers/capped", body(port))).status).toBe(200);
    const net = await import("node:net");
    const held = net.connect(port, "127.0.0.1");
    held.on("error", () => {});
    await waitFor(() => holder.connections.length === 1, 3000, "held connection");
    const newPort = await closedPort();
    expect((await api("PUT", "/servers/capped", body(newPort))).status).toBe(200);
    // The held connection is still the server's one allowed connection.
    expect((await request(newPort, undefined, { timeoutMs: 2000 })).data).toBe("");
    held.destroy();
    await waitFor(() => holder.live.size === 0, 3000, "held connection closed");
    await waitFor(
      () => lb.balancer.servers.get("capped")!.counters.activeConnections === 0,
      3000,
      "the server to count it closed",
    );
    expect((await request(newPort, undefined, { timeoutMs: 2000 })).data).toBe("hi\n");
    await holder.close();
  });

  it("DELETE removes a server: 200 null, it stops accepting", async () => {
    const port = await closedPort();
    await api("POST", "/servers/gone", serverBody(`127.0.0.1:${port}`, [`127.0.0.1:${a.port}`]));
    const del = await api("DELETE", "/servers/gone");
    expect(del.status).toBe(200);
    expect(del.text.trim()).toBe("null");
    expect((await api("GET", "/servers/gone")).json).toBeNull();
    expect((await request(port)).error).toMatch(/ECONNREFUSED/);
  });
});

describe("backend routes", () => {
  const webPort = () => Number(lb.balancer.servers.get("web")!.boundAddress().split(":")[1]);

  it("disable takes a backend out of rotation, enable brings it back", async () => {
    const key = `127.0.0.1:${a.port}`;
    const off = await api("POST", `/servers/web/backends/${key}/disable`);
    expect(off.status).toBe(200);
    expect(off.json).toMatchObject({ backend: key, enabled: false });
    for (let i = 0; i < 4; i++) expect((await request(webPort())).data).toBe("b\n");
    expect((await api("POST", `/servers/web/backends/${key}/enable`)).json).toMatchObject({
      enabled: true,
    });
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add((await request(webPort())).data);
    expect(seen).toEqual(new Set(["a\n", "b\n"]));
  });

  it("drain waits for the backend's connections up to the timeout, then closes the rest", async () => {
    const holder = await tcpServer(() => {}, { allowHalfOpen: false });
    const port = await closedPort();
    await api(
      "POST",
      "/servers/drainme",
      serverBody(`127.0.0.1:${port}`, [`127.0.0.1:${holder.port}`]),
    );
    const net = await import("node:net");
    const client = net.connect(port, "127.0.0.1");
    client.on("error", () => {});
    const closed = new Promise((r) => client.on("close", r));
    await waitFor(() => holder.connections.length === 1, 3000, "held connection");
    const started = Date.now();
    const res = await api(
      "POST",
      `/servers/drainme/backends/127.0.0.1:${holder.port}/drain?timeout=300ms`,
    );
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ enabled: false, closed_connections: 1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await closed;
    await holder.close();
  });

  it("unknown backend or action is 404; a bad timeout is 400", async () => {
    expect((await api("POST", "/servers/web/backends/10.9.9.9:1/disable")).status).toBe(404);
    expect((await api("POST", `/servers/web/backends/127.0.0.1:${a.port}/explode`)).status).toBe(
      404,
    );
    const bad = await api("POST", `/servers/web/backends/127.0.0.1:${a.port}/drain?timeout=soon`);
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual({
      error: 'timeout: expected a Go duration such as "30s", got "soon"',
    });
  });
});
