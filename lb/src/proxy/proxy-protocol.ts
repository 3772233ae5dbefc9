// PROXY protocol headers sent to backends (haproxy's proxy-protocol.txt, versions 1 and 2).
import { isIPv4, isIPv6 } from "node:net";
import ipaddr from "ipaddr.js";
import { normalizeClientIp } from "../core/access";

interface ProxiedAddresses {
  sourceIp: string;
  sourcePort: number;
  destIp: string;
  destPort: number;
}

const V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);

/** Both ends in one family: IPv4 when both are (or map to) IPv4, else IPv6. */
function family(a: ProxiedAddresses): { v4: boolean; src: string; dst: string } {
  const src = normalizeClientIp(a.sourceIp);
  const dst = normalizeClientIp(a.destIp);
  if (isIPv4(src) && isIPv4(dst)) return { v4: true, src, dst };
  return { v4: false, src: toIPv6(src), dst: toIPv6(dst) };
}

function toIPv6(ip: string): string {
  return isIPv6(ip) ? ip : `::ffff:${ip}`;
}

function proxyHeaderV1(a: ProxiedAddresses): Buffer {
  const f = family(a);
  return Buffer.from(
    `PROXY ${f.v4 ? "TCP4" : "TCP6"} ${f.src} ${f.dst} ${a.sourcePort} ${a.destPort}\r\n`,
    "latin1",
  );
}

function proxyHeaderV2(a: ProxiedAddresses): Buffer {
  const f = family(a);
  const addrLen = f.v4 ? 12 : 36;
  const buf = Buffer.alloc(16 + addrLen);
  V2_SIGNATURE.copy(buf, 0);
  buf[12] = 0x21; // version 2, command PROXY
  buf[13] = f.v4 ? 0x11 : 0x21; // AF_INET|AF_INET6, STREAM
  buf.writeUInt16BE(addrLen, 14);
  if (f.v4) {
    writeIp(buf, 16, f.src);
    writeIp(buf, 20, f.dst);
    buf.writeUInt16BE(a.sourcePort, 24);
    buf.writeUInt16BE(a.destPort, 26);
  } else {
    writeIp(buf, 16, f.src);
    writeIp(buf, 32, f.dst);
    buf.writeUInt16BE(a.sourcePort, 48);
    buf.writeUInt16BE(a.destPort, 50);
  }
  return buf;
}

/** Writes an IPv4 (4 bytes) or IPv6 (16 bytes) address in network order. */
function writeIp(buf: Buffer, offset: number, ip: string): void {
  const zone = ip.indexOf("%");
  const bytes = ipaddr.parse(zone === -1 ? ip : ip.slice(0, zone)).toByteArray();
  for (let i = 0; i < bytes.length; i++) buf[offset + i] = bytes[i];
}

export function proxyHeader(version: "1" | "2", a: ProxiedAddresses): Buffer {
  return version === "2" ? proxyHeaderV2(a) : proxyHeaderV1(a);
}
