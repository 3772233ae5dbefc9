import { describe, expect, it } from "vitest";
import { createStrategy } from "../../../lb/src/balance";
import { WeightStrategy } from "../../../lb/src/balance/weight";
import { backend, count, seeded, sortByKey } from "./helpers";

const ctx = { clientIp: "10.0.0.1" };

describe("weight strategy", () => {
  it("elects only the best (lowest) priority group (gobetween weight_test 1)", () => {
    const list = [];
    for (const priority of [0, 1, 2]) {
      for (const weight of [0, 1, 2]) {
        list.push(backend(`10.0.${priority}.${weight}:80`, { priority, weight }));
      }
    }
    const s = createStrategy("weight");
    const sorted = sortByKey(list);
    const seen = count(() => s.elect(sorted, ctx), 10_000);
    for (const key of seen.keys()) expect(key.startsWith("10.0.0.")).toBe(true);
    // weight 0 never chosen while weights 1 and 2 exist; 2 chosen about twice as often as 1.
    expect(seen.has("10.0.0.0:80")).toBe(false);
    const ratio = seen.get("10.0.0.2:80")! / seen.get("10.0.0.1:80")!;
    expect(ratio).toBeGreaterThan(1.8);
    expect(ratio).toBeLessThan(2.2);
  });

  it("all-zero weights still distribute uniformly (gobetween weight_test 2)", () => {
    const list = sortByKey([
      backend("a:1", { weight: 0 }),
      backend("b:1", { weight: 0 }),
      backend("c:1", { weight: 0 }),
    ]);
    const s = new WeightStrategy(seeded(1));
    const n = 30_000;
    const seen = count(() => s.elect(list, ctx), n);
    for (const b of list) {
      expect(Math.abs(seen.get(b.key)! / n - 1 / 3)).toBeLessThan(0.02);
    }
  });

  it("a group of one is elected even with weight 0", () => {
    const list = sortByKey([
      backend("a:1", { weight: 0, priority: 1 }),
      backend("b:1", { priority: 2 }),
    ]);
    const s = createStrategy("weight");
    for (let i = 0; i < 100; i++) expect(s.elect(list, ctx).key).toBe("a:1");
  });

  it("distributes 20/15/25/40 within ±0.5 pp; the priority-2 weight-244 backend is never elected", () => {
    const input = [
      backend("10.0.0.5:80", { priority: 2, weight: 244 }),
      backend("10.0.0.3:80", { priority: 1, weight: 25 }),
      backend("10.0.0.1:80", { priority: 1, weight: 20 }),
      backend("10.0.0.4:80", { priority: 1, weight: 40 }),
      backend("10.0.0.2:80", { priority: 1, weight: 15 }),
    ];
    const list = sortByKey(input);
    const n = 1_000_000;
    const s = createStrategy("weight");
    const seen = count(() => s.elect(list, ctx), n);
    expect(seen.has("10.0.0.5:80")).toBe(false);
    const expected: Record<string, number> = {
      "10.0.0.1:80": 20,
      "10.0.0.2:80": 15,
      "10.0.0.3:80": 25,
      "10.0.0.4:80": 40,
    };
    for (const [key, pct] of Object.entries(expected)) {
      expect(Math.abs((seen.get(key)! / n) * 100 - pct)).toBeLessThan(0.5);
    }
  });

  it("acts as failover tiers: when the best tier is filtered out, the next one is used", () => {
    const tier1 = [backend("a:1", { priority: 1 }), backend("b:1", { priority: 1 })];
    const tier2 = [backend("c:1", { priority: 2, weight: 3 }), backend("d:1", { priority: 2 })];
    const s = createStrategy("weight");
    const withTier1 = count(() => s.elect(sortByKey([...tier1, ...tier2]), ctx), 1000);
    expect([...withTier1.keys()].sort()).toEqual(["a:1", "b:1"]);
    const onlyTier2 = count(() => s.elect(sortByKey(tier2), ctx), 100_000);
    expect(Math.abs(onlyTier2.get("c:1")! / 100_000 - 0.75)).toBeLessThan(0.01);
  });

  it("ignores negative weights/priorities, and never throws when every candidate is invalid", () => {
    const list = sortByKey([
      backend("a:1", { priority: -1, weight: 100 }),
      backend("b:1", { priority: 5, weight: -3 }),
      backend("c:1", { priority: 5, weight: 1 }),
    ]);
    const s = createStrategy("weight");
    for (let i = 0; i < 1000; i++) expect(s.elect(list, ctx).key).toBe("c:1");

    const invalid = sortByKey([
      backend("a:1", { priority: -1 }),
      backend("b:1", { weight: -1 }),
      backend("c:1", { weight: Number.NaN }),
    ]);
    const seen = count(() => s.elect(invalid, ctx), 3000);
    expect(seen.size).toBe(3);
  });

  it("survives random numbers at the edges of [0, 1)", () => {
    const list = sortByKey([backend("a:1", { weight: 1 }), backend("b:1", { weight: 2 })]);
    expect(new WeightStrategy(() => 0).elect(list, ctx).key).toBe("a:1");
    expect(new WeightStrategy(() => 0.9999999999999999).elect(list, ctx).key).toBe("b:1");
    const zeros = sortByKey([backend("a:1", { weight: 0 }), backend("b:1", { weight: 0 })]);
    expect(new WeightStrategy(() => 0.9999999999999999).elect(zeros, ctx).key).toBe("b:1");
  });
});
