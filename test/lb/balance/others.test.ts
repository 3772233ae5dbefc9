import { describe, expect, it } from "vitest";
import {
  createStrategy,
  IpHash1Strategy,
  IpHashStrategy,
  LeastBandwidthStrategy,
  LeastConnStrategy,
  RoundRobinStrategy,
  WeightStrategy,
} from "../../../lb/src/balance";
import type { Backend } from "../../../lb/src/core/backend";
import { backend, count, seeded, sortByKey } from "./helpers";

const ctx = { clientIp: "192.0.2.7" };

describe("createStrategy", () => {
  it("knows every gobetween name and rejects others", () => {
    const classes = {
      weight: WeightStrategy,
      roundrobin: RoundRobinStrategy,
      leastconn: LeastConnStrategy,
      leastbandwidth: LeastBandwidthStrategy,
      iphash: IpHashStrategy,
      iphash1: IpHash1Strategy,
    };
    for (const [name, cls] of Object.entries(classes)) {
      expect(createStrategy(name as never), name).toBeInstanceOf(cls);
    }
    expect(() => createStrategy("random" as never)).toThrow(/unknown balance strategy/);
  });
});

describe("roundrobin", () => {
  it("walks the key-sorted list in order (lexicographic by host:port string)", () => {
    const list = sortByKey([
      backend("10.0.0.2:80"),
      backend("10.0.0.10:80"),
      backend("10.0.0.1:80"),
    ]);
    const s = createStrategy("roundrobin");
    const got = Array.from({ length: 7 }, () => s.elect(list, ctx).key);
    // ':' (0x3a) sorts after '0' (0x30), so "10.0.0.10:80" < "10.0.0.1:80" < "10.0.0.2:80".
    expect(got).toEqual([
      "10.0.0.10:80",
      "10.0.0.1:80",
      "10.0.0.2:80",
      "10.0.0.10:80",
      "10.0.0.1:80",
      "10.0.0.2:80",
      "10.0.0.10:80",
    ]);
  });

  it("stays in range and keeps cycling when the list shrinks or grows", () => {
    const five = sortByKey(["a", "b", "c", "d", "e"].map((k) => backend(`${k}:1`)));
    const s = createStrategy("roundrobin");
    for (let i = 0; i < 4; i++) s.elect(five, ctx);
    const two = five.slice(0, 2);
    const seen = Array.from({ length: 4 }, () => s.elect(two, ctx).key);
    expect(new Set(seen)).toEqual(new Set(["a:1", "b:1"]));
    expect(seen[0]).not.toBe(seen[1]);
    const after = count(() => s.elect(five, ctx), 500);
    for (const b of five) expect(after.get(b.key)).toBe(100);
  });

  it("instances keep separate counters", () => {
    const list = sortByKey([backend("a:1"), backend("b:1")]);
    const s1 = createStrategy("roundrobin");
    const s2 = createStrategy("roundrobin");
    expect(s1.elect(list, ctx).key).toBe("a:1");
    expect(s2.elect(list, ctx).key).toBe("a:1");
    expect(s1.elect(list, ctx).key).toBe("b:1");
  });
});

describe("leastconn", () => {
  it("picks the backend with the fewest active connections", () => {
    const list = sortByKey([
      backend("a:1", { activeConnections: 5 }),
      backend("b:1", { activeConnections: 2 }),
      backend("c:1", { activeConnections: 9 }),
    ]);
    const s = createStrategy("leastconn");
    for (let i = 0; i < 50; i++) expect(s.elect(list, ctx).key).toBe("b:1");
  });

  it("spreads ties among the minimum evenly and never picks a non-minimum", () => {
    const list = sortByKey([
      backend("a:1", { activeConnections: 1 }),
      backend("b:1", { activeConnections: 3 }),
      backend("c:1", { activeConnections: 1 }),
      backend("d:1", { activeConnections: 1 }),
    ]);
    const s = createStrategy("leastconn");
    const seen = count(() => s.elect(list, ctx), 300);
    expect(seen.get("b:1")).toBeUndefined();
    expect(seen.get("a:1")).toBe(100);
    expect(seen.get("c:1")).toBe(100);
    expect(seen.get("d:1")).toBe(100);
  });

  it("balances a simulated load: elected backends gain connections", () => {
    const list = sortByKey(["a", "b", "c"].map((k) => backend(`${k}:1`)));
    const s = createStrategy("leastconn");
    for (let i = 0; i < 30; i++) s.elect(list, ctx).activeConnections++;
    for (const b of list) expect(b.activeConnections).toBe(10);
  });
});

describe("leastbandwidth", () => {
  it("picks the lowest rxSecond + txSecond", () => {
    const list = sortByKey([
      backend("a:1", { rxSecond: 100, txSecond: 0 }),
      backend("b:1", { rxSecond: 30, txSecond: 40 }),
      backend("c:1", { rxSecond: 0, txSecond: 71 }),
    ]);
    const s = createStrategy("leastbandwidth");
    for (let i = 0; i < 50; i++) expect(s.elect(list, ctx).key).toBe("b:1");
  });

  it("breaks ties at random among the minimum only", () => {
    const list = sortByKey([
      backend("a:1", { rxSecond: 10, txSecond: 10 }),
      backend("b:1", { rxSecond: 5, txSecond: 0 }),
      backend("c:1", { rxSecond: 0, txSecond: 5 }),
    ]);
    const s = new LeastBandwidthStrategy(seeded(7));
    const n = 20_000;
    const seen = count(() => s.elect(list, ctx), n);
    expect(seen.get("a:1")).toBeUndefined();
    expect(Math.abs(seen.get("b:1")! / n - 0.5)).toBeLessThan(0.02);
    expect(Math.abs(seen.get("c:1")! / n - 0.5)).toBeLessThan(0.02);
  });
});

describe("single candidate", () => {
  it("every strategy returns it", () => {
    const only: Backend[] = [backend("x:1", { weight: 0, priority: 9 })];
    for (const name of [
      "weight",
      "roundrobin",
      "leastconn",
      "leastbandwidth",
      "iphash",
      "iphash1",
    ]) {
      const s = createStrategy(name as never);
      for (let i = 0; i < 5; i++) expect(s.elect(only, ctx)).toBe(only[0]);
    }
  });
});
