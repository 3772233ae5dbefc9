// The native data path under a descriptor limit (the bench's idle phase: 5,000 idle pairs under
// RLIMIT_NOFILE 20,000 ended with the backend holding none). Each pair used to take six
// descriptors in the addon (two duplicates and two pipes made at hand-over), so past a third of the
// limit pipe2() failed and the addon closed pairs as if the peers had: silently. Now an idle pair
// holds two, and a direction that gets no pipe copies through a buffer, with a warning in the log.
// The balancer runs as a child process whose limit is lowered with prlimit(1).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { addonPath } from "../../../lb/src/proxy/native-relay";
import { ARTIFACT, NODE22, startLbProcess } from "../support/lb-process";
import { closedPort, tcpServer, waitFor } from "../support/net";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
const dir = mkdtempSync(join(tmpdir(), "geoswarm-native-fd-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const usable =
  existsSync(addonPath()) &&
  existsSync(NODE22) &&
  spawnSync("prlimit", ["--version"]).status === 0 &&
  process.env.GEOSWARM_LB_NATIVE !== "0";

/** Descriptors the balancer may hold: room for PAIRS pairs at two each, not at six. */
const NOFILE = 800;
const PAIRS = 300;

/** A backend that echoes and counts its live connections. */
async function countingEcho(): Promise<{ port: number; live: () => number }> {
  let live = 0;
  const server = await tcpServer((s) => {
    live++;
    s.on("data", (d) => s.write(d));
    s.on("error", () => {});
    s.on("close", () => live--);
  });
  cleanups.push(() => server.close());
  return { port: server.port, live: () => live };
}

/** The artifact on the native path, its descriptor limit lowered to NOFILE once it runs. */
async function limitedBalancer(backend: number): Promise<{ port: number; output: () => string }> {
  const port = await closedPort();
  const cfg = join(dir, `lb-${port}.toml`);
  writeFileSync(
    cfg,
    `[api]
enabled = false
[servers.web]
bind = "127.0.0.1:${port}"
client_idle_timeout = "60s"
backend_idle_timeout = "60s"
[servers.web.discovery]
kind = "static"
static_list = ["127.0.0.1:${backend}"]
`,
  );
  const lb = await startLbProcess(["-c", cfg], {
    node: NODE22,
    artifact: ARTIFACT,
    env: { GEOSWARM_LB_NATIVE: "1" },
  });
  cleanups.push(async () => {
    lb.kill("SIGKILL");
    await lb.exited;
  });
  const set = spawnSync("prlimit", [`--pid=${lb.child.pid}`, `--nofile=${NOFILE}:${NOFILE}`]);
  expect(set.status, String(set.stderr)).toBe(0);
  return { port, output: lb.output };
}

/** Opens `n` connections (50 in flight) and resolves with them once all are connected. */
async function openIdle(port: number, n: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
  });
  for (let i = 0; i < n; i += 50) {
    const batch = Array.from({ length: Math.min(50, n - i) }, () => {
      const s = net.connect(port, "127.0.0.1");
      sockets.push(s);
      return new Promise<void>((resolve, reject) => {
        s.once("connect", () => resolve());
        s.once("error", reject);
      });
    });
    await Promise.all(batch);
  }
  return sockets;
}

describe.skipIf(!usable)(`native data path, RLIMIT_NOFILE ${NOFILE}`, () => {
  it(`${PAIRS} idle pairs all reach the backend and stay open (two descriptors each)`, async () => {
    const backend = await countingEcho();
    const lb = await limitedBalancer(backend.port);
    const sockets = await openIdle(lb.port, PAIRS);
    let closed = 0;
    for (const s of sockets) s.on("close", () => closed++);
    await waitFor(() => backend.live() === PAIRS, 10_000, `${PAIRS} connections at the backend`);
    // The old addon made both pipes when a pair was registered; give it time to fail.
    await new Promise((r) => setTimeout(r, 1500));
    expect({ backend: backend.live(), clientsClosed: closed }).toEqual({
      backend: PAIRS,
      clientsClosed: 0,
    });
    expect(lb.output()).not.toContain("copy through a buffer");
  }, 30_000);

  it("when no descriptor is left for pipes, every pair still echoes intact and it is logged", async () => {
    const backend = await countingEcho();
    const lb = await limitedBalancer(backend.port);
    const sockets = await openIdle(lb.port, PAIRS);
    let closed = 0;
    for (const s of sockets) s.on("close", () => closed++);
    await waitFor(() => backend.live() === PAIRS, 10_000, `${PAIRS} connections at the backend`);
    // Every pair now needs a pipe per direction: far more than the limit leaves.
    const payload = Buffer.alloc(100_000, 7);
    const echoed = sockets.map(
      (s) =>
        new Promise<number>((resolve) => {
          let got = 0;
          s.on("data", (d: Buffer) => {
            got += d.length;
            if (got >= payload.length) resolve(got);
          });
          s.on("close", () => resolve(got));
          s.write(payload);
        }),
    );
    const got = await Promise.all(echoed);
    expect(got.filter((n) => n !== payload.length)).toEqual([]);
    expect(closed).toBe(0);
    expect(backend.live()).toBe(PAIRS);
    await waitFor(
      () => lb.output().includes("no descriptor left for a pipe"),
      3000,
      "the warning about copying without a pipe",
    );
  }, 30_000);
});
