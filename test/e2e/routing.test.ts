// End to end, as in the article: two regions (a dockerd each, in its own network namespace), two
// busybox httpd containers per region labelled service=region-N.nginx, the built balancer, and
// one entry point per region registered through the LbServer provider (docker discovery against
// that region's engine). Per-region routing, iphash stickiness per client address, and an access
// rule denying one region's namespace (clients run inside the namespaces, so their source
// addresses are the regions').
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireDocker } from "../support/docker/testbed";
import {
  type Answer,
  type Cluster,
  fromNamespace,
  get,
  startCluster,
  until,
} from "./support/cluster";

const canRun = requireDocker("test/e2e/routing.test.ts");
let c: Cluster;

const HOSTS: Record<number, string[]> = { 1: ["host1", "host2"], 2: ["host3", "host4"] };

/** Requests through gw:port until every host of `want` answered (bounded by `ms`). */
async function reachesAll(port: number, want: string[], ms = 5000): Promise<void> {
  const seen = new Set<string>();
  await until(
    async () => {
      const a = await get(c.gw, port);
      if (a.body) seen.add(a.body);
      return want.every((h) => seen.has(h));
    },
    ms,
    `${want.join(", ")} behind :${port} (seen: ${[...seen].join(", ")})`,
  );
}

beforeAll(async () => {
  if (!canRun) return;
  c = await startCluster({ regions: 2 });
  for (const i of [1, 2]) {
    await c.httpd(i, HOSTS[i][0], 22001);
    await c.httpd(i, HOSTS[i][1], 22002);
  }
}, 120_000);

afterAll(async () => {
  await c?.close();
}, 120_000);

describe.skipIf(!canRun)("e2e: regions behind the balancer", () => {
  it("each region's entry point reaches only that region's containers, alternating between them", async () => {
    const outs1 = await c.register("r1nginx", c.entryPoint(1, 20001));
    await c.register("r2nginx", c.entryPoint(2, 20002));
    expect(outs1.bind).toBe(`${c.gw}:20001`);
    expect(outs1.effective?.discovery).toMatchObject({
      kind: "docker",
      docker_container_label: "service=region-1.nginx",
    });
    await reachesAll(20001, HOSTS[1]);
    await reachesAll(20002, HOSTS[2]);

    for (const [i, port] of [
      [1, 20001],
      [2, 20002],
    ]) {
      const answers: Answer[] = [];
      for (let n = 0; n < 8; n++) answers.push(await get(c.gw, port));
      expect(answers.filter((a) => a.error)).toEqual([]);
      const bodies = answers.map((a) => a.body);
      // roundrobin: strictly alternating between the region's two hosts, as in the article
      for (let n = 1; n < bodies.length; n++) expect(bodies[n]).not.toBe(bodies[n - 1]);
      expect(new Set(bodies)).toEqual(new Set(HOSTS[i]));
    }
  });

  it("iphash: every client address sticks to one backend", async () => {
    await c.register("r1hash", c.entryPoint(1, 20011, { balance: "iphash" }));
    await reachesAll(20001, HOSTS[1]); // both containers discovered and live (same region)
    const url = `http://${c.gw}:20011/`;
    const clients: Array<[string, () => Promise<Answer>]> = [
      [`root (${c.gw})`, () => get(c.gw, 20011)],
      ...c.tb.regions.map((r): [string, () => Promise<Answer>] => [
        `${r.netns} (${r.ip})`,
        () => fromNamespace(r.netns, url),
      ]),
    ];
    await until(async () => (await get(c.gw, 20011)).body !== "", 3000, "r1hash serving");
    for (const [who, ask] of clients) {
      const bodies: string[] = [];
      for (let n = 0; n < 6; n++) {
        const a = await ask();
        expect(a.error, who).toBeUndefined();
        bodies.push(a.body);
      }
      expect(HOSTS[1], who).toContain(bodies[0]);
      expect(new Set(bodies), `${who} got ${bodies.join(",")}`).toEqual(new Set([bodies[0]]));
    }
  });

  it("an access rule denies region-2's namespace and still serves region-1's and the host", async () => {
    const [r1, r2] = c.tb.regions;
    await c.register(
      "r1guarded",
      c.entryPoint(1, 20021, { access: { default: "allow", rules: [`deny ${r2.ip}`] } }),
    );
    const url = `http://${c.gw}:20021/`;
    await until(async () => (await get(c.gw, 20021)).body !== "", 3000, "r1guarded serving");

    for (let n = 0; n < 3; n++) {
      const denied = await fromNamespace(r2.netns, url);
      expect(denied.body).toBe("");
      // closed right after accept: curl sees an empty reply (52) or a reset (56)
      expect(denied.error).toMatch(/curl exit (52|56)/);
      const allowed = await fromNamespace(r1.netns, url);
      expect(HOSTS[1]).toContain(allowed.body);
    }
    // the same region-2 client is served by an entry point without the rule
    expect(HOSTS[1]).toContain((await fromNamespace(r2.netns, `http://${c.gw}:20001/`)).body);
  });
});
