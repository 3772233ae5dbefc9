// End to end: the balancer process's own lifecycle with real regions behind it. A restart keeps
// the servers registered through the API (LbServer provider → [state] file); reloads (SIGHUP and
// POST /reload) that change the config file's servers, under load, break no connection: neither
// the short requests running through them nor long-lived connections opened before.

import { readFileSync } from "node:fs";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lbServerProvider } from "../../components/lb-server-provider";
import { requireDocker } from "../support/docker/testbed";
import { type Answer, type Cluster, get, startCluster, until } from "./support/cluster";

const canRun = requireDocker("test/e2e/lifecycle.test.ts");
let c: Cluster;
const HOSTS = ["host1", "host2"];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Requests through gw:port until both hosts answered (bounded by `ms`). */
async function servesBoth(port: number, ms = 5000): Promise<void> {
  const seen = new Set<string>();
  await until(
    async () => {
      seen.add((await get(c.gw, port)).body);
      return HOSTS.every((h) => seen.has(h));
    },
    ms,
    `host1 and host2 behind :${port}`,
  );
}

/** A file-defined server on gw:20002 with static backends; `variant` changes it for reloads. */
function fileServer(variant: number): string {
  const ip = c.tb.regions[0].ip;
  return `
[servers.filesvc]
bind = "${c.gw}:20002"
protocol = "tcp"
balance = "${variant % 2 === 0 ? "roundrobin" : "leastconn"}"
[servers.filesvc.discovery]
kind = "static"
static_list = ["${ip}:22001 weight=${1 + variant}", "${ip}:22002"]
`;
}

beforeAll(async () => {
  if (!canRun) return;
  c = await startCluster({ regions: 1 });
  await c.httpd(1, "host1", 22001);
  await c.httpd(1, "host2", 22002);
}, 120_000);

afterAll(async () => {
  await c?.close();
}, 120_000);

describe.skipIf(!canRun)("e2e: balancer restart and reload", () => {
  it("a restart keeps the servers registered through the API", async () => {
    const before = await c.register("r1nginx", c.entryPoint(1, 20001));
    await servesBoth(20001);
    const state = JSON.parse(readFileSync(c.statePath, "utf8"));
    expect(JSON.stringify(state)).toContain("r1nginx");

    await c.restartLb();
    // The provider's read (what `pulumi refresh` does) finds it, unchanged.
    const read = await lbServerProvider.read("r1nginx", before);
    expect(read.id).toBe("r1nginx");
    expect(read.props).toMatchObject({ bind: `${c.gw}:20001`, effective: before.effective });
    await servesBoth(20001);
  });

  it("reloads (SIGHUP and POST /reload) changing file servers under load break no connection", async () => {
    c.writeConfig(fileServer(0));
    const first = await reload();
    expect(first).toMatchObject({ added: ["filesvc"] });
    await servesBoth(20002);

    // Long-lived connections: opened, request half sent, finished after all the reloads.
    const held = await Promise.all(
      [20001, 20001, 20002, 20002].map(async (port) => {
        const s = net.connect({ host: c.gw, port });
        s.on("error", () => {});
        await new Promise<void>((r, j) => s.once("connect", r).once("error", j));
        s.write("GET / HTTP/1.0\r\n");
        return s;
      }),
    );

    const samples: Array<Answer & { port: number }> = [];
    let running = true;
    const deadline = Date.now() + 30_000;
    const workers = [20001, 20001, 20002, 20002].map(async (port) => {
      while (running && Date.now() < deadline) samples.push({ ...(await get(c.gw, port)), port });
    });
    const results: unknown[] = [];
    for (let n = 1; n <= 6; n++) {
      await sleep(150);
      c.writeConfig(fileServer(n));
      results.push(n % 2 === 0 ? await reload() : await sighup());
    }
    await sleep(300);
    running = false;
    await Promise.all(workers);

    for (const r of results.filter((r) => typeof r === "object")) {
      expect(r).toMatchObject({ updated: ["filesvc"], unchanged: ["r1nginx"] });
    }
    expect(samples.filter((s) => s.error)).toEqual([]);
    expect(samples.length).toBeGreaterThan(50);
    for (const port of [20001, 20002]) {
      expect(new Set(samples.filter((s) => s.port === port).map((s) => s.body))).toEqual(
        new Set(HOSTS),
      );
    }
    const answers = await Promise.all(held.map((s) => finish(s)));
    for (const a of answers) expect(a).toMatch(/^HTTP\/1\.[01] 200 [\s\S]*\r\n\r\nhost[12]\n$/);
    expect(c.lb.output()).toContain("SIGHUP: reloading configuration");
    process.stdout.write(
      `[e2e reload] 6 reloads, ${samples.length} requests and 4 held connections, 0 broken\n`,
    );
  });
});

async function reload(): Promise<unknown> {
  const auth = Buffer.from(`${c.api.username}:${c.api.password}`).toString("base64");
  const res = await fetch(`${c.api.url}/reload`, {
    method: "POST",
    headers: { authorization: `Basic ${auth}` },
  });
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body;
}

/** SIGHUP the process, then wait for its "configuration reloaded" log line. */
async function sighup(): Promise<string> {
  const count = () => c.lb.output().split("configuration reloaded").length;
  const n = count();
  c.lb.child.kill("SIGHUP");
  await until(() => count() > n, 3000, "configuration reloaded after SIGHUP");
  return "sighup";
}

/** Completes the half-sent request on a held connection; resolves with the whole response. */
function finish(s: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let data = "";
    const timer = setTimeout(() => s.destroy(), 5000);
    s.on("data", (d) => {
      data += d;
    });
    s.on("close", () => {
      clearTimeout(timer);
      resolve(data);
    });
    s.write("\r\n");
  });
}
