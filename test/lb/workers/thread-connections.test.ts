// `workers = 2`: geoswarm_lb_thread_connections shows how SO_REUSEPORT spread the open client
// connections over the data-plane threads (thread 0 = main, 1 = the worker), so an uneven hash
// is visible in production, not only in a benchmark.
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { type LbProcess, NODE22, startLbProcess } from "../support/lb-process";
import { closedPort, sleep, type TestTcpServer, tcpServer } from "../support/net";

const dir = mkdtempSync(join(tmpdir(), "geoswarm-thread-conns-"));
const opened: Array<{ close(): unknown }> = [];
const clients: net.Socket[] = [];
let lb: LbProcess | undefined;

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  lb?.kill("SIGKILL");
  await lb?.exited;
  lb = undefined;
});
afterAll(async () => {
  for (const o of opened.splice(0)) await o.close();
});

/** A backend that greets each connection and holds it open. */
function holdingServer(): Promise<TestTcpServer> {
  return tcpServer((socket) => {
    socket.write("hi\n");
    socket.on("end", () => socket.end());
  });
}

/** A client that stays open; resolves once the backend's greeting came through the balancer. */
function openClient(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("data", () => resolve(socket));
    socket.once("error", reject);
  });
}

/** geoswarm_lb_thread_connections{server="hold",thread=…} by thread. */
async function threadConnections(metrics: string): Promise<Record<string, number>> {
  const res = await fetch(`${metrics}/metrics`);
  expect(res.status).toBe(200);
  const out: Record<string, number> = {};
  for (const line of (await res.text()).split("\n")) {
    const m = /^geoswarm_lb_thread_connections\{server="hold",thread="(\d+)"\} (\d+)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

describe.skipIf(!existsSync(NODE22))("geoswarm_lb_thread_connections (workers = 2)", () => {
  it("counts each thread's open client connections; they add up to the server's", async () => {
    const backend = await holdingServer();
    opened.push(backend);
    const port = await closedPort();
    const metricsPort = await closedPort();
    const config = join(dir, `lb-${port}.toml`);
    writeFileSync(
      config,
      `workers = 2
[metrics]
enabled = true
bind = "127.0.0.1:${metricsPort}"
[servers.hold]
bind = "127.0.0.1:${port}"
[servers.hold.discovery]
kind = "static"
static_list = ["127.0.0.1:${backend.port}"]
`,
    );
    lb = await startLbProcess(["-c", config], { node: NODE22 });
    const metrics = `http://127.0.0.1:${metricsPort}`;
    expect(await threadConnections(metrics)).toEqual({ "0": 0, "1": 0 });

    clients.push(...(await Promise.all(Array.from({ length: 40 }, () => openClient(port)))));
    const held = await threadConnections(metrics);
    expect(Object.keys(held).sort()).toEqual(["0", "1"]);
    expect(held["0"] + held["1"]).toBe(40);
    // The kernel hashes each connection to a listener: all 40 on one thread has odds of 2^-39.
    expect(held["0"]).toBeGreaterThan(0);
    expect(held["1"]).toBeGreaterThan(0);

    for (const c of clients.splice(0)) c.destroy();
    const deadline = Date.now() + 5000;
    let now = await threadConnections(metrics);
    while ((now["0"] > 0 || now["1"] > 0) && Date.now() < deadline) {
      await sleep(50);
      now = await threadConnections(metrics);
    }
    expect(now).toEqual({ "0": 0, "1": 0 });
  });
});
