// A failed PUT leaves the server untouched (issue 13, item 6), and hostile patterns through the
// API neither freeze the process nor pass validation (item 5).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerConfig } from "../../../lb/src/config/types";
import { call, serverBody, startWithApi } from "../support/api";
import { nameServer, request, type TestTcpServer } from "../support/net";

let lb: Awaited<ReturnType<typeof startWithApi>>;
let backend: TestTcpServer;
let evil: HttpServer;
let evilUrl: string;
const dir = mkdtempSync(join(tmpdir(), "lb-atomic-"));
const statePath = join(dir, "servers.json");

beforeAll(async () => {
  backend = await nameServer("b");
  // A plaintext source whose line makes a backtracking engine run for seconds per fetch.
  evil = createServer((_req, res) => res.end(`${"a".repeat(27)}!\n127.0.0.1:${backend.port}\n`));
  await new Promise<void>((r) => evil.listen(0, "127.0.0.1", r));
  evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}/`;
  lb = await startWithApi("", `[state]\npath = "${statePath}"\n`);
});
afterAll(async () => {
  await lb.stop(0);
  await backend.close();
  evil.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("item 6: a failed PUT changes nothing", () => {
  it("an invalid json_host_pattern is 400, and GET, discovery and the state file keep the old server", async () => {
    const created = await call(
      lb.base,
      "POST",
      "/servers/api1",
      serverBody("127.0.0.1:0", [`127.0.0.1:${backend.port}`]),
    );
    expect(created.status).toBe(200);
    const before = (await call(lb.base, "GET", "/servers/api1")).json;
    const stateBefore = readFileSync(statePath, "utf8");
    const server = lb.balancer.servers.get("api1");
    const res = await call(lb.base, "PUT", "/servers/api1", {
      bind: "127.0.0.1:0",
      discovery: { kind: "json", json_endpoint: evilUrl, json_host_pattern: "a[x]" },
      healthcheck: { kind: "ping", interval: "1s" },
    });
    expect(res.status).toBe(400);
    expect(res.text).toContain("discovery.json_host_pattern");
    expect((await call(lb.base, "GET", "/servers/api1")).json).toEqual(before);
    expect(readFileSync(statePath, "utf8")).toBe(stateBefore);
    expect(lb.balancer.servers.get("api1")).toBe(server);
    const port = Number(server?.boundAddress().split(":").pop());
    expect((await request(port)).data).toBe("b\n");
  });

  it("Server.update builds every part before switching: a part that cannot be built leaves all as it was", async () => {
    const server = lb.balancer.servers.get("api1");
    if (!server) throw new Error("api1 missing");
    const before = server.config;
    const broken = {
      ...before,
      healthcheck: { ...before.healthcheck, kind: "ping", interval: "1s" },
      // Not buildable (validation would refuse it; a source can still fail to build).
      discovery: { ...before.discovery, kind: "nonexistent" },
    } as unknown as ServerConfig;
    await expect(server.update(broken)).rejects.toThrow(/discovery.kind/);
    expect(server.config).toBe(before);
    expect(server.config.healthcheck.kind).toBe("none");
    const port = Number(server.boundAddress().split(":").pop());
    expect((await request(port)).data).toBe("b\n");
  });
});

describe("item 5: patterns through the API", () => {
  it("refuses lookahead and backreferences with 400, as RE2 does", async () => {
    for (const pattern of ["(?P<host>.+)(?=:)(?P<port>\\d+)", "(?P<host>a)\\1:(?P<port>\\d+)"]) {
      const res = await call(lb.base, "POST", "/servers/re", {
        bind: "127.0.0.1:0",
        discovery: {
          kind: "plaintext",
          plaintext_endpoint: evilUrl,
          plaintext_regex_pattern: pattern,
        },
      });
      expect(res.status, pattern).toBe(400);
      expect(res.text, pattern).toContain("discovery.plaintext_regex_pattern");
    }
  });

  it("a catastrophic pattern on a hostile body leaves API and data plane responsive", async () => {
    const res = await call(lb.base, "POST", "/servers/redos", {
      bind: "127.0.0.1:0",
      discovery: {
        kind: "plaintext",
        plaintext_endpoint: evilUrl,
        plaintext_regex_pattern: "^(?P<host>(a+)+$)|^(?P<h2>[0-9.]+):(?P<port>\\d+)$",
        interval: "100ms",
      },
    });
    expect(res.status).toBe(200);
    // Several fetches run meanwhile; each answer must come at once.
    for (let i = 0; i < 5; i++) {
      const started = Date.now();
      expect((await call(lb.base, "GET", "/ping")).status).toBe(200);
      expect(Date.now() - started).toBeLessThan(500);
      await new Promise((r) => setTimeout(r, 100));
    }
    await call(lb.base, "DELETE", "/servers/redos");
  });
});
