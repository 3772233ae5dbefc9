// PROXY v2 headers for IPv6 and mixed families (the IPv4 paths are checked through real sockets
// in tcp.test.ts). Expected bytes are written out from proxy-protocol.txt §2.2.
import { describe, expect, it } from "vitest";
import { proxyHeader } from "../../../lb/src/proxy/proxy-protocol";

describe("PROXY v2 over IPv6", () => {
  it("writes both addresses as 16 bytes, an IPv4 end as IPv4-mapped", () => {
    const h = proxyHeader("2", {
      sourceIp: "2001:db8::1",
      sourcePort: 4321,
      destIp: "::ffff:10.0.0.1",
      destPort: 80,
    });
    expect(h.length).toBe(16 + 36);
    expect(h[13]).toBe(0x21); // AF_INET6, STREAM
    expect(h.readUInt16BE(14)).toBe(36);
    expect(h.subarray(16, 32).toString("hex")).toBe("20010db8000000000000000000000001");
    expect(h.subarray(32, 48).toString("hex")).toBe("00000000000000000000ffff0a000001");
    expect(h.readUInt16BE(48)).toBe(4321);
    expect(h.readUInt16BE(50)).toBe(80);
  });

  it("v1 keeps the address text (zone included); v2 drops the zone index", () => {
    const h = proxyHeader("1", {
      sourceIp: "fe80::1%eth0",
      sourcePort: 1,
      destIp: "fe80::2",
      destPort: 2,
    });
    expect(h.toString()).toBe("PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n");
    const v2 = proxyHeader("2", {
      sourceIp: "fe80::1%eth0",
      sourcePort: 1,
      destIp: "fe80::2",
      destPort: 2,
    });
    expect(v2.subarray(16, 32).toString("hex")).toBe("fe800000000000000000000000000001");
  });
});
