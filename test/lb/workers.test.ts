// `workers = N`: the built artifact under Node.js 22 (scripts/setup.sh installs it in .cache/)
// with two data-plane threads on the same listeners. Checks that both threads accept, that
// limits and counts hold across threads (shared counters), that API changes reach every thread,
// and that Node 20 refuses the setting with a clear message.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import type net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { call, serverBody } from "./support/api";
import { ARTIFACT, type LbProcess, NODE22, startLbProcess } from "./support/lb-process";
import {
  closedPort,
  nameServer,
  request,
  sleep,
  type TestTcpServer,
  tcpServer,
  waitFor,
} from "./support/net";

const dir = mkdtempSync(join(tmpdir(), "geoswarm-workers-"));
const opened: Array<{ close(): unknown }> = [];
let lb: LbProcess | undefined;

afterEach(async () => {
  lb?.kill("SIGKILL");
  await lb?.exited;
  lb = undefined;
});
afterAll(async () => {
  for (const o of opened.splice(0)) await o.close();
});

if (!existsSync(NODE22) && process.env.CI) {
  throw new Error(`${NODE22} is missing: scripts/setup.sh installs it`);
}

async function startWorkers(servers: string, workers = 2): Promise<{ api: string; lb: LbProcess }> {
  const apiPort = await closedPort();
  const config = join(dir, `lb-${apiPort}.toml`);
  writeFileSync(
    config,
    `workers = ${workers}
[logging]
level = "debug"
[api]
enabled = true
bind = "127.0.0.1:${apiPort}"
${servers}`,
  );
  lb = await startLbProcess(["-c", config], { node: NODE22 });
  return { api: `http://127.0.0.1:${apiPort}`, lb };
}

/** Listening sockets on `port` in this network namespace (one per thread with SO_REUSEPORT). */
function listenersOn(port: number): number {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  return readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .filter((line) => {
      const cols = line.trim().split(/\s+/);
      return cols[1]?.endsWith(hex) && cols[3] === "0A";
    }).length;
}

/** A backend that greets each connection with its name and holds it open. */
async function holdingServer(name: string): Promise<TestTcpServer> {
  return tcpServer((socket) => {
    socket.write(`${name}\n`);
    socket.on("end", () => socket.end());
  });
}

/** Opens a client and resolves with the first line it reads, or "" if closed without one. */
function openClient(port: number): Promise<{ socket: net.Socket; line: string }> {
  return new Promise((resolve) => {
    const socket = require("node:net").connect(port, "127.0.0.1") as net.Socket;
    let buf = "";
    const done = (): void => resolve({ socket, line: buf.split("\n")[0] });
    socket.on("data", (d) => {
      buf += d;
      if (buf.includes("\n")) done();
    });
    socket.on("close", done);
    socket.on("error", () => {});
  });
}

/** The API of these tests has no basic auth (loopback). */
const apiCall = (base: string, method: string, path: string, body?: unknown) =>
  call(base, method, path, body, { auth: null });

async function stats(base: string, server: string) {
  const res = await apiCall(base, "GET", `/servers/${server}/stats`);
  return res.json as {
    active_connections: number;
    rx_total: number;
    backends: Array<{
      port: string;
      stats: { total_connections: number; active_connections: number };
    }>;
  };
}

describe.skipIf(!existsSync(NODE22))("workers = 2 (Node 22)", () => {
  it("both threads accept on the server's address; stats count every thread's traffic", async () => {
    const a = await nameServer("a");
    const b = await nameServer("b");
    opened.push(a, b);
    const port = await closedPort();
    const { api } = await startWorkers(`
[servers.web]
bind = "127.0.0.1:${port}"
balance = "roundrobin"
[servers.web.discovery]
kind = "static"
static_list = ["127.0.0.1:${a.port}", "127.0.0.1:${b.port}"]
`);
    expect(listenersOn(port)).toBe(2);
    const answers: string[] = [];
    for (let round = 0; round < 10; round++) {
      const batch = await Promise.all(Array.from({ length: 20 }, () => request(port)));
      answers.push(...batch.map((r) => r.data));
    }
    expect(answers.filter((d) => d !== "a\n" && d !== "b\n")).toEqual([]);
    const s = await stats(api, "web");
    const total = s.backends.reduce((n, x) => n + x.stats.total_connections, 0);
    expect(total).toBe(200);
    expect(s.rx_total).toBe(400);
    // Both threads took some of the connections (the kernel spreads them).
    const perThread = await threadShares(api);
    expect(perThread.main).toBeGreaterThan(0);
    expect(perThread.worker).toBeGreaterThan(0);
  });

  it("server and per-backend max_connections hold across threads", async () => {
    const a = await holdingServer("a");
    const b = await holdingServer("b");
    opened.push(a, b);
    const port = await closedPort();
    const port2 = await closedPort();
    const { api } = await startWorkers(`
[servers.limited]
bind = "127.0.0.1:${port}"
balance = "leastconn"
max_connections = 7
[servers.limited.discovery]
kind = "static"
static_list = ["127.0.0.1:${a.port}", "127.0.0.1:${b.port}"]

[servers.perbackend]
bind = "127.0.0.1:${port2}"
balance = "roundrobin"
[servers.perbackend.discovery]
kind = "static"
static_list = ["127.0.0.1:${a.port} max_connections=3", "127.0.0.1:${b.port} max_connections=2"]
`);
    const clients = await Promise.all(Array.from({ length: 40 }, () => openClient(port)));
    const served = clients.filter((c) => c.line !== "");
    expect(served.length).toBe(7);
    // leastconn over shared counts: 4 and 3, whichever thread accepted each client.
    const counts = [
      served.filter((c) => c.line === "a").length,
      served.filter((c) => c.line === "b").length,
    ];
    expect(counts.sort()).toEqual([3, 4]);
    expect((await stats(api, "limited")).active_connections).toBe(7);

    const clients2 = await Promise.all(Array.from({ length: 30 }, () => openClient(port2)));
    const lines = clients2.map((c) => c.line).filter((l) => l !== "");
    expect(lines.filter((l) => l === "a").length).toBe(3);
    expect(lines.filter((l) => l === "b").length).toBe(2);
    const s2 = await stats(api, "perbackend");
    expect(s2.backends.map((x) => x.stats.active_connections).sort()).toEqual([2, 3]);

    for (const c of [...clients, ...clients2]) c.socket.destroy();
    const deadline = Date.now() + 5000;
    while ((await stats(api, "limited")).active_connections > 0 && Date.now() < deadline) {
      await sleep(50);
    }
    expect((await stats(api, "limited")).active_connections).toBe(0);
    expect((await stats(api, "perbackend")).active_connections).toBe(0);
  });

  it("API changes reach every thread: PUT re-targets, DELETE closes the address", async () => {
    const a = await nameServer("a");
    const b = await nameServer("b");
    opened.push(a, b);
    const port = await closedPort();
    const { api: base } = await startWorkers("");
    const server = (backend: number) => serverBody(`127.0.0.1:${port}`, [`127.0.0.1:${backend}`]);
    const send = (method: string, body?: unknown) => apiCall(base, method, "/servers/web", body);
    expect((await send("POST", server(a.port))).status).toBe(200);
    expect(listenersOn(port)).toBe(2);
    const before = await Promise.all(Array.from({ length: 40 }, () => request(port)));
    expect(new Set(before.map((r) => r.data))).toEqual(new Set(["a\n"]));
    expect((await send("PUT", server(b.port))).status).toBe(200);
    const after = await Promise.all(Array.from({ length: 40 }, () => request(port)));
    expect(new Set(after.map((r) => r.data))).toEqual(new Set(["b\n"]));
    expect((await send("DELETE")).status).toBe(200);
    await waitFor(() => listenersOn(port) === 0, 3000, "both listeners closed");
  });

  it("SIGTERM stops every thread and exits 0", async () => {
    const a = await nameServer("a");
    opened.push(a);
    const port = await closedPort();
    const started = await startWorkers(`
[servers.web]
bind = "127.0.0.1:${port}"
[servers.web.discovery]
kind = "static"
static_list = ["127.0.0.1:${a.port}"]
`);
    started.lb.kill("SIGTERM");
    expect(await started.lb.exited).toBe(0);
    expect(started.lb.output()).toContain("shutdown complete");
    lb = undefined;
  });
});

/**
 * How many connections each thread takes, read from the debug log lines that a
 * denial writes (the worker thread's carry worker=1): a second server with an access rule that
 * denies everyone shares the threads, so 40 denied connects show the kernel's spread.
 */
async function threadShares(base: string): Promise<{ main: number; worker: number }> {
  const denyPort = await closedPort();
  const res = await apiCall(
    base,
    "POST",
    "/servers/deny",
    serverBody(`127.0.0.1:${denyPort}`, ["127.0.0.1:1"], {
      access: { default: "deny", rules: [] },
    }),
  );
  expect(res.status).toBe(200);
  const mark = (lb as LbProcess).output().length;
  await Promise.all(Array.from({ length: 40 }, () => request(denyPort)));
  await sleep(200);
  const lines = (lb as LbProcess)
    .output()
    .slice(mark)
    .split("\n")
    .filter((l) => l.includes("access denied"));
  expect(lines.length).toBe(40);
  const worker = lines.filter((l) => l.includes("worker=1")).length;
  return { main: lines.length - worker, worker };
}

describe("workers = 2 on Node < 22.12", () => {
  it.skipIf(Number(process.versions.node.split(".")[0]) >= 22)(
    "refuses to start, naming the setting and the Node version",
    () => {
      const config = join(dir, "node20.toml");
      writeFileSync(
        config,
        'workers = 2\n[servers.web]\nbind = "127.0.0.1:0"\n[servers.web.discovery]\nkind = "static"\nstatic_list = ["127.0.0.1:1"]\n',
      );
      const run = spawnSync(process.execPath, [ARTIFACT, "-c", config], { encoding: "utf8" });
      // Found while loading (as --check finds it), so a configuration error: exit 2.
      expect(run.status).toBe(2);
      expect(run.stdout + run.stderr).toContain(
        `workers: 2 needs Node.js >= 22.12 (listeners shared with SO_REUSEPORT); this is Node.js ${process.version}`,
      );
    },
  );

  it("rejects an out-of-range value with the key, the value and the range", () => {
    const config = join(dir, "bad.toml");
    writeFileSync(config, "workers = 0\n");
    const run = spawnSync(process.execPath, [ARTIFACT, "--check", "-c", config], {
      encoding: "utf8",
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/workers: expected an integer 1-64, got 0/);
  });
});
