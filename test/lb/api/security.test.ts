// The API as an attacker and a careless client use it (issue 13, items 1-4, 7, 8, 16, 17): what
// is refused by default, with which status and which setting allows it, against a real
// in-process balancer on loopback.
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiResponse, call, serverBody, startWithApi } from "../support/api";
import { nameServer, request, type TestTcpServer } from "../support/net";

let lb: Awaited<ReturnType<typeof startWithApi>>;
let backend: TestTcpServer;
const api = (
  method: string,
  path: string,
  body?: unknown,
  opts?: Parameters<typeof call>[4],
): Promise<ApiResponse> => call(lb.base, method, path, body, opts);

beforeAll(async () => {
  backend = await nameServer("b");
  lb = await startWithApi(
    `
[servers.web]
bind = "127.0.0.1:0"
[servers.web.discovery]
kind = "static"
static_list = ["127.0.0.1:${backend.port}"]
`,
    "",
    'max_servers = 4\nrequest_timeout = "1s"\nhosts = ["lb.internal"]',
  );
});
afterAll(async () => {
  await lb.stop(0);
  await backend.close();
});

const body = (extra: Record<string, unknown> = {}) =>
  serverBody("127.0.0.1:0", [`127.0.0.1:${backend.port}`], extra);

describe("item 1: exec kinds through the API", () => {
  it("refuses exec discovery and exec healthchecks with 403 naming api.allow_exec", async () => {
    const discovery = await api("POST", "/servers/x1", {
      bind: "127.0.0.1:0",
      discovery: { kind: "exec", exec_command: ["/bin/touch", "/tmp/pwned"] },
    });
    expect(discovery.status).toBe(403);
    expect(discovery.text).toContain("api.allow_exec = true");
    const check = await api(
      "POST",
      "/servers/x2",
      body({ healthcheck: { kind: "exec", interval: "1s", exec_command: "/bin/true" } }),
    );
    expect(check.status).toBe(403);
    expect(check.text).toContain("healthcheck.kind");
    // PUT too, and nothing was created or changed.
    const put = await api("PUT", "/servers/web", {
      bind: "127.0.0.1:0",
      discovery: { kind: "exec", exec_command: ["/bin/true"] },
    });
    expect(put.status).toBe(403);
    expect(lb.balancer.servers.has("x1")).toBe(false);
    expect(lb.balancer.servers.get("web")?.config.discovery.kind).toBe("static");
  });

  it("allows them when the config file sets api.allow_exec = true", async () => {
    const other = await startWithApi("", "", "allow_exec = true");
    try {
      const res = await call(other.base, "POST", "/servers/e", {
        bind: "127.0.0.1:0",
        discovery: { kind: "exec", exec_command: ["/bin/echo", "127.0.0.1:1"] },
      });
      expect(res.status).toBe(200);
    } finally {
      await other.stop(0);
    }
  });
});

describe("item 2: cross-site requests and DNS rebinding", () => {
  it("refuses a body that is not application/json with 415 (no CORS preflight for text/plain)", async () => {
    const res = await api("POST", "/servers/t1", JSON.stringify(body()), {
      raw: true,
      contentType: "text/plain;charset=UTF-8",
    });
    expect(res.status).toBe(415);
    expect(lb.balancer.servers.has("t1")).toBe(false);
    const none = await api("POST", "/servers/t1", JSON.stringify(body()), {
      raw: true,
      contentType: null,
    });
    expect(none.status).toBe(415);
  });

  it("refuses a Host that is not an IP literal, localhost or listed in api.hosts", async () => {
    const port = Number(lb.apiAddress?.split(":").pop());
    const get = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          { host: "127.0.0.1", port, path: "/servers", headers: { host, authorization: "x" } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on("error", reject);
        req.end();
      });
    expect(await get(`attacker.example:${port}`)).toBe(403);
    expect(await get("rebind.attacker.example")).toBe(403);
    // Allowed names get as far as auth (401 for the bad credentials).
    expect(await get(`localhost:${port}`)).toBe(401);
    expect(await get(`lb.internal:${port}`)).toBe(401);
    expect(await get(`127.0.0.1:${port}`)).toBe(401);
  });

  it("refuses a foreign Origin (cors is off by default)", async () => {
    const res = await api("POST", "/servers/o1", body(), {
      headers: { origin: "http://evil.example" },
    });
    expect(res.status).toBe(403);
    expect(res.text).toContain("api.cors_origins");
    expect(lb.balancer.servers.has("o1")).toBe(false);
    // The API's own origin (the dashboard) is fine.
    const own = await api("GET", "/servers", undefined, {
      headers: { origin: `http://${lb.apiAddress}` },
    });
    expect(own.status).toBe(200);
  });
});

describe("item 3: secrets in GET /servers", () => {
  it("redacts consul_auth_password and consul_acl_token as /dump does", async () => {
    const res = await api("POST", "/servers/c1", {
      bind: "127.0.0.1:0",
      discovery: {
        kind: "consul",
        consul_host: "127.0.0.1:1",
        consul_service_name: "web",
        consul_auth_username: "u",
        consul_auth_password: "hunter2",
        consul_acl_token: "acl-secret",
      },
    });
    expect(res.status).toBe(200);
    try {
      for (const path of ["/servers", "/servers/c1", "/dump?format=json"]) {
        const text = (await api("GET", path)).text;
        expect(text, path).not.toContain("hunter2");
        expect(text, path).not.toContain("acl-secret");
        expect(text, path).toContain("<redacted>");
      }
      // The balancer itself still has them.
      expect(lb.balancer.servers.get("c1")?.config.discovery.consul_acl_token).toBe("acl-secret");
    } finally {
      await api("DELETE", "/servers/c1");
    }
  });
});

describe("item 4: SSRF through discovery URLs", () => {
  it.each([
    ["json_endpoint", { kind: "json", json_endpoint: "http://169.254.169.254/latest/meta-data/" }],
    ["plaintext_endpoint", { kind: "plaintext", plaintext_endpoint: "http://[fe80::1]/x" }],
    ["plaintext_endpoint", { kind: "plaintext", plaintext_endpoint: "http://0xa9fea9fe/x" }],
    ["json_endpoint", { kind: "json", json_endpoint: "http://metadata.google.internal/x" }],
    [
      "consul_host",
      { kind: "consul", consul_host: "169.254.169.254:80", consul_service_name: "a" },
    ],
    [
      "docker_endpoint",
      {
        kind: "docker",
        docker_endpoint: "tcp://169.254.1.1:2375",
        docker_container_private_port: 80,
      },
    ],
  ])("refuses %s at a link-local or metadata address with 403", async (key, discovery) => {
    const res = await api("POST", "/servers/s1", { bind: "127.0.0.1:0", discovery });
    expect(res.status).toBe(403);
    expect(res.text).toContain(`discovery.${key}`);
    expect(res.text).toContain("api.allow_link_local_discovery");
    expect(lb.balancer.servers.has("s1")).toBe(false);
  });
});

describe("item 7: limits", () => {
  it("closes a request that does not arrive within request_timeout", async () => {
    const port = Number(lb.apiAddress?.split(":").pop());
    const started = Date.now();
    const closedAfter = await new Promise<number>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => {
        socket.write(
          "POST /servers/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
        );
        // One byte a few times a second: the socket is never idle, the request never complete.
        const drip = setInterval(() => socket.write(" "), 200);
        socket.on("close", () => {
          clearInterval(drip);
          resolve(Date.now() - started);
        });
        socket.on("error", () => undefined);
      });
    });
    expect(closedAfter).toBeLessThan(4000);
  });

  it("answers 400 for a body nested 20k deep", async () => {
    const deep = `${"[".repeat(20_000)}${"]".repeat(20_000)}`;
    const res = await api("POST", "/servers/deep", deep, { raw: true });
    expect(res.status).toBe(400);
    expect(res.text).toContain("nested at most 32 levels");
    // A valid server but for the depth: the 400 must come from the depth limit, not the schema.
    const deepObject = `{"bind":"127.0.0.1:0","discovery":{"kind":"static","static_list":["127.0.0.1:1"],"x":${'{"a":'.repeat(20_000)}1${"}".repeat(20_000)}}}`;
    const put = await api("PUT", "/servers/web", deepObject, { raw: true });
    expect(put.status).toBe(400);
    expect(put.text).toContain("nested at most 32 levels");
  });

  it("refuses servers past api.max_servers with 403 naming the setting", async () => {
    const made: string[] = [];
    try {
      let last: ApiResponse | undefined;
      for (let i = 0; i < 5; i++) {
        last = await api("POST", `/servers/m${i}`, body());
        if (last.status === 200) made.push(`m${i}`);
        else break;
      }
      // web + 3 created = 4 = max_servers.
      expect(made).toHaveLength(3);
      expect(last?.status).toBe(403);
      expect(last?.text).toContain("api.max_servers");
    } finally {
      for (const name of made) await api("DELETE", `/servers/${name}`);
    }
  });

  it("returns warnings for unknown fields as Warning: 299 headers", async () => {
    const res = await api("POST", "/servers/w1", body({ colour: "blue", max_connections: 5 }));
    try {
      expect(res.status).toBe(200);
      expect(res.text).toBe("null\n");
      const warning = res.headers.get("warning") ?? "";
      expect(warning).toContain('299 geoswarm-lb "unknown key colour (ignored)"');
      expect(warning).toContain("client_idle_timeout");
    } finally {
      await api("DELETE", "/servers/w1");
    }
  });
});

describe("item 8: names", () => {
  it("reaches names of 101-128 characters (not a raw 414)", async () => {
    const name = "n".repeat(128);
    const res = await api("POST", `/servers/${name}`, body());
    expect(res.status).toBe(200);
    expect((await api("GET", `/servers/${name}`)).status).toBe(200);
    expect((await api("DELETE", `/servers/${name}`)).status).toBe(200);
    expect(lb.balancer.servers.has(name)).toBe(false);
    expect((await api("POST", `/servers/${"n".repeat(129)}`, body())).status).toBe(400);
  });
});

describe("items 16-17: gobetween's wire contract", () => {
  it("an unknown server is 200 null on GET, GET stats and DELETE", async () => {
    for (const [method, path] of [
      ["GET", "/servers/nope"],
      ["GET", "/servers/nope/stats"],
      ["DELETE", "/servers/nope"],
    ] as const) {
      const res = await api(method, path);
      expect([res.status, res.text], `${method} ${path}`).toEqual([200, "null\n"]);
    }
  });

  it("server objects carry sni, tls and backends_tls (null) in /servers, /servers/:name, /dump", async () => {
    const one = (await api("GET", "/servers/web")).json as Record<string, unknown>;
    const all = (await api("GET", "/servers")).json as Record<string, Record<string, unknown>>;
    const dump = (await api("GET", "/dump?format=json")).json as {
      servers: Record<string, Record<string, unknown>>;
    };
    for (const s of [one, all.web, dump.servers.web]) {
      expect(s).toMatchObject({ sni: null, tls: null, backends_tls: null });
    }
  });

  it("a gobetween client's body with sni, tls and backends_tls null is accepted without warnings", async () => {
    const res = await api(
      "POST",
      "/servers/g1",
      body({ sni: null, tls: null, backends_tls: null }),
    );
    try {
      expect(res.status).toBe(200);
      expect(res.headers.get("warning")).toBeNull();
    } finally {
      await api("DELETE", "/servers/g1");
    }
  });
});

describe("the data plane keeps serving through all of this", () => {
  it("web still proxies", async () => {
    const port = Number(lb.balancer.servers.get("web")?.boundAddress().split(":").pop());
    expect((await request(port)).data).toBe("b\n");
  });
});
