// End to end: containers come and go behind a region's entry point (registered through the
// LbServer provider, docker discovery against the region's real dockerd) while clients keep
// asking. A killed container stops receiving requests, and no client request fails while another
// backend is healthy except those the container held when it died; a started container receives
// traffic within 1 s.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireDocker } from "../support/docker/testbed";
import { type Answer, type Cluster, get, startCluster, until } from "./support/cluster";

const canRun = requireDocker("test/e2e/churn.test.ts");
let c: Cluster;
const PORT = 20001;

interface Sample extends Answer {
  start: number;
  end: number;
}

/** `workers` clients asking in a loop until `stop()`; bounded to 30 s in any case. */
function load(workers: number): { samples: Sample[]; stop(): Promise<void> } {
  const samples: Sample[] = [];
  let running = true;
  const deadline = Date.now() + 30_000;
  const loops = Array.from({ length: workers }, async () => {
    while (running && Date.now() < deadline) {
      const start = Date.now();
      const a = await get(c.gw, PORT);
      samples.push({ ...a, start, end: Date.now() });
    }
  });
  return {
    samples,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** host:port of the backends r1nginx currently has discovered (GET /servers/r1nginx/stats). */
async function discovered(): Promise<string[]> {
  const auth = Buffer.from(`${c.api.username}:${c.api.password}`).toString("base64");
  const res = await fetch(`${c.api.url}/servers/r1nginx/stats`, {
    headers: { authorization: `Basic ${auth}` },
  });
  expect(res.status).toBe(200);
  const stats = (await res.json()) as {
    backends: Array<{ host: string; port: string; stats: { discovered: boolean; live: boolean } }>;
  };
  return stats.backends
    .filter((b) => b.stats.discovered && b.stats.live)
    .map((b) => `${b.host}:${b.port}`)
    .sort();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  if (!canRun) return;
  c = await startCluster({ regions: 1 });
  await c.httpd(1, "host1", 22001);
  await c.httpd(1, "host2", 22002);
  await c.register("r1nginx", c.entryPoint(1, PORT));
  const seen = new Set<string>();
  await until(
    async () => {
      seen.add((await get(c.gw, PORT)).body);
      return seen.has("host1") && seen.has("host2");
    },
    5000,
    "host1 and host2 behind r1nginx",
  );
}, 120_000);

afterAll(async () => {
  await c?.close();
}, 120_000);

describe.skipIf(!canRun)("e2e: containers come and go under load", () => {
  it("docker kill: once the engine reports the container dead, no request reaches it or fails", async () => {
    const ip = c.tb.regions[0].ip;
    const workers = 3;
    const l = load(workers);
    await sleep(500);
    const t0 = Date.now();
    await c.tb.docker(1, "kill", "host1");
    await until(
      async () => !(await discovered()).includes(`${ip}:22001`),
      1000,
      "host1 out of rotation",
    );
    const outOfRotation = Date.now() - t0;
    await sleep(1000);
    await l.stop();

    // When dockerd signalled the container and when it saw it exit (its own event stream, same
    // clock).
    const events = await c.tb.docker(
      1,
      ..."events --filter container=host1 --format {{.Action}}:{{.TimeNano}}".split(" "),
      ...["--since", String((t0 - 1000) / 1000), "--until", String(Date.now() / 1000)],
    );
    const at = (action: string) => {
      const line = events.split("\n").find((e) => e.startsWith(`${action}:`));
      if (!line) throw new Error(`no ${action} event for host1 in: ${events}`);
      return Number(BigInt(line.slice(action.length + 1)) / 1_000_000n);
    };
    const killedAt = at("kill");
    const diedAt = at("die");

    // From the "die" event on, host1's port refuses: the balancer retries such connects on
    // host2 until discovery (driven by the same event) takes host1 out, so nothing fails.
    const afterDeath = l.samples.filter((s) => s.start >= diedAt);
    expect(afterDeath.length).toBeGreaterThan(20);
    expect(afterDeath.filter((s) => s.error)).toEqual([]);
    expect(new Set(afterDeath.map((s) => s.body))).toEqual(new Set(["host2"]));
    // Before `docker kill` ran every request succeeded, and host1 was serving.
    const before = l.samples.filter((s) => s.end < t0);
    expect(before.filter((s) => s.error)).toEqual([]);
    expect(before.some((s) => s.body === "host1")).toBe(true);
    // The only failures allowed: requests host1 held when SIGKILL took effect — being served,
    // or already accepted by the kernel into its listen queue (dockerd logs "kill" after
    // signalling, but a loaded machine may run the dying process milliseconds later). They all
    // end at that one instant, so each client loses at most one. An L4 balancer cannot replay
    // a request whose backend accepted it and died (nor can gobetween or HAProxy in TCP mode).
    const cut = l.samples.filter((s) => s.error);
    for (const s of cut) expect(s.start < diedAt && s.end >= t0, JSON.stringify(s)).toBe(true);
    expect(cut.length).toBeLessThanOrEqual(workers);
    expect(await discovered()).toEqual([`${ip}:22002`]);
    const killToDie = l.samples.filter((s) => s.start >= killedAt && s.start < diedAt);
    process.stdout.write(
      `[e2e churn] ${l.samples.length} requests, ${afterDeath.length} after the die event: 0 failed; ` +
        `${cut.length} cut off on host1 (${killToDie.length} started between kill and die); ` +
        `kill→die ${diedAt - killedAt} ms; ` +
        `out of rotation ${outOfRotation} ms after \`docker kill\` started\n`,
    );
  });

  it("docker run: a new labelled container receives traffic within 1 s, with no failed request", async () => {
    const l = load(2);
    await sleep(300);
    const runAt = Date.now();
    await c.httpd(1, "host3", 22003);
    const started = Date.now();
    let firstServed = 0;
    await until(
      () => {
        firstServed = l.samples.find((s) => s.body === "host3" && s.start >= runAt)?.end ?? 0;
        return firstServed > 0;
      },
      3000,
      "host3 served through r1nginx",
    );
    await l.stop();
    const sinceStarted = firstServed - started;
    process.stdout.write(
      `[e2e churn] host3: docker run took ${started - runAt} ms, first request served ${sinceStarted} ms after it returned\n`,
    );
    const log = c.lb
      .output()
      .split("\n")
      .filter((x) => x.includes(":22003"));
    expect(sinceStarted, `balancer log about host3:\n${log.join("\n")}`).toBeLessThan(1000);
    expect(l.samples.filter((s) => s.error)).toEqual([]);
    expect(new Set(l.samples.map((s) => s.body))).toEqual(new Set(["host2", "host3"]));
  });
});
