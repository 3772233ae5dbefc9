import { describe, expect, it } from "vitest";
import type { BackendSpec } from "../../../lb/src/config/types";
import type { Strategy } from "../../../lb/src/core/backend";
import { BackendTable } from "../../../lb/src/core/backend-table";

const first: Strategy = { elect: (c) => c[0] };
const spec = (host: string, port: number, extra: Partial<BackendSpec> = {}): BackendSpec => ({
  host,
  port,
  weight: 1,
  priority: 1,
  max_connections: 0,
  sni: "",
  ...extra,
});

describe("BackendTable", () => {
  it("tells about election changes only when a discovery result changes something", () => {
    let changes = 0;
    const table = new BackendTable({
      strategy: first,
      initialLive: true,
      onElectionChange: () => changes++,
    });
    table.applyDiscovery([spec("10.0.0.1", 80), spec("10.0.0.2", 80)]);
    const after = changes;
    expect(after).toBeGreaterThan(0);
    table.applyDiscovery([spec("10.0.0.2", 80), spec("10.0.0.1", 80)]);
    expect(changes).toBe(after);
    table.applyDiscovery([spec("10.0.0.2", 80), spec("10.0.0.1", 80, { weight: 3 })]);
    expect(changes).toBe(after + 1);
    expect(table.get("10.0.0.1:80")?.weight).toBe(3);
  });

  it("starts the rate of a re-added backend at zero, not from the old entry's bytes", () => {
    const table = new BackendTable({ strategy: first, initialLive: true });
    table.applyDiscovery([spec("a", 1)]);
    const old = table.get("a:1")!;
    old.rxBytes = 10_000;
    table.updateRates(2000);
    table.applyDiscovery([]);
    table.applyDiscovery([spec("a", 1)]);
    const fresh = table.get("a:1")!;
    expect(fresh).not.toBe(old);
    fresh.rxBytes = 400;
    table.updateRates(2000);
    expect(fresh.rxSecond).toBe(0);
    fresh.rxBytes = 1400;
    table.updateRates(2000);
    expect(fresh.rxSecond).toBe(500);
  });

  it("merges discovery results, keeping stats and live state of known backends", () => {
    const table = new BackendTable({ strategy: first, initialLive: true });
    table.applyDiscovery([spec("10.0.0.2", 80), spec("10.0.0.1", 80)]);
    expect(table.backends.map((b) => b.key)).toEqual(["10.0.0.1:80", "10.0.0.2:80"]);
    const b = table.elect({ clientIp: "1.1.1.1" })!;
    table.connectionEstablished(b);
    table.setLive("10.0.0.2:80", false);
    const res = table.applyDiscovery([spec("10.0.0.1", 80, { weight: 5 }), spec("10.0.0.2", 80)]);
    expect(res).toEqual({ added: [], removed: [], lingering: [] });
    expect(table.get("10.0.0.1:80")).toMatchObject({
      weight: 5,
      totalConnections: 1,
      activeConnections: 1,
    });
    expect(table.get("10.0.0.2:80")!.live).toBe(false);
  });

  it("keeps an undiscovered backend with connections until they close, and never elects it", () => {
    const table = new BackendTable({ strategy: first, initialLive: true });
    table.applyDiscovery([spec("a", 1), spec("b", 1)]);
    const a = table.elect({ clientIp: "x" })!;
    expect(a.key).toBe("a:1");
    const res = table.applyDiscovery([spec("b", 1)]);
    expect(res.lingering).toEqual(["a:1"]);
    expect(table.get("a:1")!.discovered).toBe(false);
    expect(table.elect({ clientIp: "x" })!.key).toBe("b:1");
    table.connectionClosed(a);
    expect(table.get("a:1")).toBeUndefined();
  });

  it("counts a connection at election, so max_connections is a hard limit", () => {
    const table = new BackendTable({ strategy: first, initialLive: true });
    table.applyDiscovery([spec("a", 1, { max_connections: 2 }), spec("b", 1)]);
    const picks = [0, 1, 2, 3].map(() => table.elect({ clientIp: "x" })!.key);
    expect(picks).toEqual(["a:1", "a:1", "b:1", "b:1"]);
  });

  it("undoes the count on a refusal and excludes backends that failed for this client", () => {
    const table = new BackendTable({ strategy: first, initialLive: true });
    table.applyDiscovery([spec("a", 1), spec("b", 1)]);
    const a = table.elect({ clientIp: "x" })!;
    table.connectionRefused(a);
    expect(a).toMatchObject({ activeConnections: 0, refusedConnections: 1 });
    expect(table.elect({ clientIp: "x" }, new Set([a]))!.key).toBe("b:1");
    expect(table.elect({ clientIp: "x" }, new Set(table.backends))).toBeUndefined();
  });

  it("leaves disabled, dead and undiscovered backends out of elections", () => {
    const table = new BackendTable({ strategy: first, initialLive: false });
    table.applyDiscovery([spec("a", 1), spec("b", 1)]);
    expect(table.elect({ clientIp: "x" })).toBeUndefined();
    table.setLive("a:1", true);
    table.setLive("b:1", true);
    table.setEnabled("a:1", false);
    expect(table.elect({ clientIp: "x" })!.key).toBe("b:1");
  });

  it("reports membership changes (for healthcheck sync) but not plain updates", () => {
    const seen: string[][] = [];
    const table = new BackendTable({
      strategy: first,
      initialLive: true,
      onMembershipChange: (b) => seen.push(b.map((x) => x.key)),
    });
    table.applyDiscovery([spec("a", 1)]);
    table.applyDiscovery([spec("a", 1, { weight: 3 })]);
    table.applyDiscovery([]);
    expect(seen).toEqual([["a:1"], []]);
  });

  it("computes per-second rates over the window", () => {
    const table = new BackendTable({ strategy: first, initialLive: true });
    table.applyDiscovery([spec("a", 1)]);
    table.updateRates(2000);
    const a = table.get("a:1")!;
    a.rxBytes += 4000;
    a.txBytes += 1000;
    table.updateRates(2000);
    expect(a).toMatchObject({ rxSecond: 2000, txSecond: 500 });
    table.updateRates(2000);
    expect(a).toMatchObject({ rxSecond: 0, txSecond: 0 });
  });

  it("takes the last entry of a backend listed twice", () => {
    const table = new BackendTable({ strategy: first, initialLive: true });
    table.applyDiscovery([spec("a", 1, { weight: 2 }), spec("a", 1, { weight: 7 })]);
    expect(table.backends).toHaveLength(1);
    expect(table.get("a:1")!.weight).toBe(7);
  });
});
