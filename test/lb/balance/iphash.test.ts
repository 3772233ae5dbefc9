import { describe, expect, it } from "vitest";
import { createStrategy } from "../../../lb/src/balance";
import {
  FNV_OFFSET,
  fnvByte,
  fnvString,
  hashIp,
  hashIpUncached,
} from "../../../lb/src/balance/fnv";
import type { Backend } from "../../../lb/src/core/backend";
import { backend, randomIpv4, randomIpv6, seeded, sortByKey } from "./helpers";

function fnvBytes(bytes: Iterable<number>, h = FNV_OFFSET): number {
  for (const b of bytes) h = fnvByte(h, b);
  return h;
}

describe("FNV-1a-32 of client IPs", () => {
  it("matches the published FNV-1a test vectors", () => {
    expect(fnvString(FNV_OFFSET, "")).toBe(0x811c9dc5);
    expect(fnvString(FNV_OFFSET, "a")).toBe(0xe40c292c);
    expect(fnvString(FNV_OFFSET, "foobar")).toBe(0xbf9cf968);
  });

  it("hashes IPv4 as 4 bytes", () => {
    expect(hashIp("1.2.3.4")).toBe(fnvBytes([1, 2, 3, 4]));
    expect(hashIp("255.0.10.200")).toBe(fnvBytes([255, 0, 10, 200]));
  });

  it.each([
    ["::", "00000000000000000000000000000000"],
    ["::1", "00000000000000000000000000000001"],
    ["2001:db8::8a2e:370:7334", "20010db80000000000008a2e03707334"],
    ["2001:DB8:0:0:1:0:0:1", "20010db8000000000001000000000001"],
    ["fe80::1%eth0", "fe800000000000000000000000000001"],
    ["1::", "00010000000000000000000000000000"],
    ["::ffff:1.2.3.4", "00000000000000000000ffff01020304"],
    ["64:ff9b::192.0.2.33", "0064ff9b0000000000000000c0000221"],
    ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008"],
  ])("hashes IPv6 %s as its 16 bytes", (ip, hex) => {
    expect(hashIpUncached(ip)).toBe(fnvBytes(Buffer.from(hex, "hex")));
  });

  it("falls back to hashing the text for anything that is not an IP (never throws)", () => {
    for (const bad of [
      "",
      "1.2.3",
      "1.2.3.256",
      "1.2.3.4.5",
      "1:2",
      ":::",
      "1::2::3",
      "12345::",
      "x",
      "1.2.3.4:",
    ]) {
      expect(hashIpUncached(bad)).toBe(fnvString(FNV_OFFSET, bad));
    }
  });
});

const four = (): Backend[] =>
  sortByKey([1, 2, 3, 4].map((i) => backend(`127.0.0.${i}:${999 + i}`)));

describe("iphash", () => {
  it("is FNV(ip bytes) mod N over the sorted list", () => {
    const list = four();
    const s = createStrategy("iphash");
    expect(s.elect(list, { clientIp: "1.2.3.4" })).toBe(list[fnvBytes([1, 2, 3, 4]) % 4]);
  });

  it("is sticky for IPv4 and IPv6 clients and spreads them", () => {
    const list = four();
    const rnd = seeded(3);
    const s = createStrategy("iphash");
    const used = new Set<string>();
    for (const ip of [
      ...Array.from({ length: 50 }, () => randomIpv4(rnd)),
      ...Array.from({ length: 50 }, () => randomIpv6(rnd)),
    ]) {
      const first = s.elect(list, { clientIp: ip });
      used.add(first.key);
      for (let i = 0; i < 200; i++) expect(s.elect(list, { clientIp: ip })).toBe(first);
    }
    expect(used.size).toBe(4);
  });
});

describe("iphash1 (rendezvous)", () => {
  it("scores FNV(ip bytes ‖ key) and picks the highest", () => {
    const list = four();
    const score = (b: Backend) => fnvString(fnvBytes([9, 8, 7, 6]), b.key);
    const expected = list.reduce((best, b) => (score(b) > score(best) ? b : best));
    expect(createStrategy("iphash1").elect(list, { clientIp: "9.8.7.6" })).toBe(expected);
  });

  it("removing a backend moves only its clients; adding it back restores every mapping", () => {
    const rnd = seeded(42);
    const ips = [
      ...Array.from({ length: 900 }, () => randomIpv4(rnd)),
      ...Array.from({ length: 100 }, () => randomIpv6(rnd)),
    ];
    const s = createStrategy("iphash1");
    const all = four();
    const before = ips.map((ip) => s.elect(all, { clientIp: ip }).key);
    const perBackend = new Map<string, number>();
    for (const k of before) perBackend.set(k, (perBackend.get(k) ?? 0) + 1);
    for (const b of all) expect(perBackend.get(b.key)).toBeGreaterThan(150); // ≈250 each

    const removed = all[1].key;
    const without = all.filter((b) => b.key !== removed);
    let moved = 0;
    ips.forEach((ip, i) => {
      const now = s.elect(without, { clientIp: ip }).key;
      if (before[i] === removed) {
        expect(now).not.toBe(removed);
        moved++;
      } else {
        expect(now).toBe(before[i]);
      }
    });
    expect(moved).toBe(perBackend.get(removed));

    const restored = ips.map((ip) => s.elect(all, { clientIp: ip }).key);
    expect(restored).toEqual(before);
  });

  it("adding a fifth backend takes roughly 1/5 of the clients, all of them moving to it", () => {
    const rnd = seeded(5);
    const ips = Array.from({ length: 2000 }, () => randomIpv4(rnd));
    const s = createStrategy("iphash1");
    const all = four();
    const five = sortByKey([...all, backend("127.0.0.5:1004")]);
    let moved = 0;
    for (const ip of ips) {
      const a = s.elect(all, { clientIp: ip }).key;
      const b = s.elect(five, { clientIp: ip }).key;
      if (a !== b) {
        expect(b).toBe("127.0.0.5:1004");
        moved++;
      }
    }
    expect(moved / ips.length).toBeGreaterThan(0.12);
    expect(moved / ips.length).toBeLessThan(0.28);
  });
});
