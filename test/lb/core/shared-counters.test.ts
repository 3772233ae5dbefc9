// Shared election counters (workers > 1), in one thread: a second SharedCounters view of the
// same buffer stands in for another thread, which is how worker threads see it.
import { describe, expect, it } from "vitest";
import { createStrategy } from "../../../lb/src/balance";
import type { BackendSpec } from "../../../lb/src/config/types";
import { BackendTable } from "../../../lb/src/core/backend-table";
import { SharedCounters, SlotAllocator } from "../../../lb/src/core/shared-counters";

const spec = (port: number, max = 0): BackendSpec => ({
  host: "10.0.0.1",
  port,
  weight: 1,
  priority: 1,
  max_connections: max,
  sni: "",
});

function mainAndReplica(balance: "leastconn" | "roundrobin" = "leastconn") {
  const counters = new SharedCounters();
  const slots = new SlotAllocator(counters);
  let version = 0;
  const main = new BackendTable({
    strategy: createStrategy(balance),
    initialLive: true,
    shared: {
      counters,
      allocate: () => slots.allocate(version),
      retire: (slot) => slots.retire(slot, version + 1),
    },
  });
  const replica = new BackendTable({
    strategy: createStrategy(balance),
    initialLive: true,
    shared: { counters: new SharedCounters(counters.buffer) },
  });
  const publish = () => {
    replica.replace(main.entries());
    version++;
  };
  return { main, replica, counters, publish };
}

describe("SharedCounters", () => {
  it("never lets a slot pass its limit, and undoes the failed attempt", () => {
    const c = new SharedCounters();
    const other = new SharedCounters(c.buffer);
    expect(c.tryAcquire(5, 2)).toBe(true);
    expect(other.tryAcquire(5, 2)).toBe(true);
    expect(c.tryAcquire(5, 2)).toBe(false);
    expect(other.load(5)).toBe(2);
    other.release(5);
    expect(c.tryAcquire(5, 2)).toBe(true);
    expect(c.tryAcquireServer(0)).toBe(true);
    expect(other.serverActive).toBe(1);
  });
});

describe("SlotAllocator", () => {
  it("reuses a slot only after every thread applied its removal and its count is zero", () => {
    const c = new SharedCounters();
    const slots = new SlotAllocator(c);
    expect(slots.allocate(0)).toBe(1);
    expect(slots.allocate(0)).toBe(2);
    c.tryAcquire(1, 0);
    slots.retire(1, 3);
    expect(slots.allocate(2)).toBe(3); // version 3 not applied everywhere yet
    expect(slots.allocate(3)).toBe(4); // applied, but a connection still holds slot 1
    c.release(1);
    expect(slots.allocate(3)).toBe(1);
  });
});

describe("BackendTable with shared counters", () => {
  it("leastconn and max_connections see the other thread's connections", () => {
    const { main, replica, publish } = mainAndReplica();
    main.applyDiscovery([spec(1, 2), spec(2, 2)]);
    publish();
    const ctx = { clientIp: "192.0.2.1" };
    const fromReplica = replica.elect(ctx);
    expect(fromReplica?.port).toBe(1);
    // The main thread sees the replica's connection: leastconn picks the other backend.
    expect(main.elect(ctx)?.port).toBe(2);
    expect(main.get("10.0.0.1:1")?.activeConnections).toBe(1);
    expect(replica.elect(ctx)).toBeDefined();
    expect(main.elect(ctx)).toBeDefined();
    // 2 + 2: both backends are full for every thread.
    expect(replica.elect(ctx)).toBeUndefined();
    expect(main.elect(ctx)).toBeUndefined();
    replica.connectionClosed(fromReplica as NonNullable<typeof fromReplica>);
    expect(main.elect(ctx)?.port).toBe(1);
  });

  it("a replica keeps counting a backend's connections after the backend leaves the list", () => {
    const { main, replica, publish, counters } = mainAndReplica("roundrobin");
    main.applyDiscovery([spec(1)]);
    publish();
    const held = replica.elect({ clientIp: "192.0.2.1" });
    expect(held).toBeDefined();
    main.applyDiscovery([]);
    // Still carries a connection (on the replica's thread), so the main table keeps it.
    expect(main.get("10.0.0.1:1")?.discovered).toBe(false);
    publish();
    expect(replica.backends.map((b) => b.discovered)).toEqual([false]);
    expect(replica.elect({ clientIp: "192.0.2.2" })).toBeUndefined();
    replica.connectionClosed(held as NonNullable<typeof held>);
    expect(counters.load((held as NonNullable<typeof held>).slot)).toBe(0);
    main.sweepLingering();
    expect(main.get("10.0.0.1:1")).toBeUndefined();
    publish();
    expect(replica.backends).toEqual([]);
  });
});
