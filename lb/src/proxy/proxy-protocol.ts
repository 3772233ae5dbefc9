// PROXY protocol headers sent to backends (haproxy's proxy-protocol.txt, versions 1 and 2).
import { isIPv4, isIPv6 } from "node:net";
import { normalizeClientIp } from "../core/access";

export interface ProxiedAddresses {
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

export function proxyHeaderV1(a: ProxiedAddresses): Buffer {
  const f = family(a);
  return Buffer.from(
    `PROXY ${f.v4 ? "TCP4" : "TCP6"} ${f.src} ${f.dst} ${a.sourcePort} ${a.destPort}\r\n`,
    "latin1",
  );
}

export function proxyHeaderV2(a: ProxiedAddresses): Buffer {
  const f = family(a);
  const addrLen = f.v4 ? 12 : 36;
  const buf = Buffer.alloc(16 + addrLen);
  V2_SIGNATURE.copy(buf, 0);
  buf[12] = 0x21; // version 2, command PROXY
  buf[13] = f.v4 ? 0x11 : 0x21; // AF_INET|AF_INET6, STREAM
  buf.writeUInt16BE(addrLen, 14);
  if (f.v4) {
    writeIPv4(buf, 16, f.src);
    writeIPv4(buf, 20, f.dst);
    buf.writeUInt16BE(a.sourcePort, 24);
    buf.writeUInt16BE(a.destPort, 26);
  } else {
    writeIPv6(buf, 16, f.src);
    writeIPv6(buf, 32, f.dst);
    buf.writeUInt16BE(a.sourcePort, 48);
    buf.writeUInt16BE(a.destPort, 50);
  }
  return buf;
}

function writeIPv4(buf: Buffer, offset: number, ip: string): void {
  const parts = ip.split(".");
  for (let i = 0; i < 4; i++) buf[offset + i] = Number(parts[i]);
}

/** Writes an IPv6 address (with `::` compression or an embedded IPv4 tail) as 16 bytes. */
export function writeIPv6(buf: Buffer, offset: number, ip: string): void {
  let text = ip;
  const zone = text.indexOf("%");
  if (zone !== -1) text = text.slice(0, zone);
  const groups: number[] = [];
  const expand = (part: string): number[] => {
    if (part === "") return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (g.includes(".")) {
        const b = g.split(".").map(Number);
        out.push((b[0] << 8) | b[1], (b[2] << 8) | b[3]);
      } else {
        out.push(Number.parseInt(g, 16));
      }
    }
    return out;
  };
  const dbl = text.indexOf("::");
  if (dbl === -1) {
    groups.push(...expand(text));
  } else {
    const head = expand(text.slice(0, dbl));
    const tail = expand(text.slice(dbl + 2));
    groups.push(...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail);
  }
  for (let i = 0; i < 8; i++) buf.writeUInt16BE(groups[i] ?? 0, offset + i * 2);
}

export function proxyHeader(version: "1" | "2", a: ProxiedAddresses): Buffer {
  return version === "2" ? proxyHeaderV2(a) : proxyHeaderV1(a);
}
