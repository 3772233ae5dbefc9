// FNV-1a 32-bit hashing of client IPs and backend keys, shared by iphash and iphash1.
// A client IP is hashed over its raw bytes: 4 for IPv4, 16 for IPv6 (as gobetween does on
// IPv4 / IPv6 sockets; the proxy already reduces IPv4-mapped IPv6 to IPv4).
// FNV-1a is a streaming hash, so the state after the IP bytes is both iphash's hash and the
// starting point of iphash1's FNV(ip ‖ key). It is cached per IP text, so a repeat client costs
// one Map lookup and no parsing.

export const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Continues an FNV-1a-32 state with one byte. */
export function fnvByte(h: number, b: number): number {
  return Math.imul(h ^ b, FNV_PRIME) >>> 0;
}

/** Continues an FNV-1a-32 state with the UTF-8 bytes of `s`. */
export function fnvString(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, FNV_PRIME);
    } else {
      // Rare (hostnames are ASCII): hash the rest through a proper UTF-8 encoding.
      const rest = Buffer.from(s.slice(i), "utf8");
      for (let k = 0; k < rest.length; k++) h = Math.imul(h ^ rest[k], FNV_PRIME);
      break;
    }
  }
  return h >>> 0;
}

/** FNV state after an IPv4 address in dotted-quad text, or -1 if `s` is not one. */
function fnvIpv4(s: string, from: number, to: number, h: number): number {
  let octets = 0;
  let v = 0;
  let digits = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      v = v * 10 + (c - 0x30);
      if (++digits > 3 || v > 255) return -1;
    } else if (c === 0x2e /* . */) {
      if (digits === 0 || octets === 3) return -1;
      h = fnvByte(h, v);
      octets++;
      v = 0;
      digits = 0;
    } else {
      return -1;
    }
  }
  if (digits === 0 || octets !== 3) return -1;
  return fnvByte(h, v);
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

// Scratch for IPv6 parsing: 8 groups; reused (elections are synchronous).
const groups = new Uint16Array(8);

/** FNV state after the 16 bytes of an IPv6 address in text form, or -1 if `s` is not one. */
function fnvIpv6(s: string): number {
  let end = s.indexOf("%"); // zone id: not part of the address bytes
  if (end < 0) end = s.length;
  let n = 0; // groups written
  let gap = -1; // group index where "::" stands
  let i = 0;
  if (end >= 2 && s.charCodeAt(0) === 0x3a && s.charCodeAt(1) === 0x3a) {
    gap = 0;
    i = 2;
  } else if (end > 0 && s.charCodeAt(0) === 0x3a) {
    return -1;
  }
  let tailV4 = -1;
  while (i < end) {
    if (n >= 8) return -1;
    let v = 0;
    let digits = 0;
    const start = i;
    while (i < end) {
      const d = hexDigit(s.charCodeAt(i));
      if (d < 0) break;
      v = v * 16 + d;
      i++;
      if (++digits > 4) return -1;
    }
    if (i < end && s.charCodeAt(i) === 0x2e /* . */) {
      // Embedded IPv4 tail (e.g. ::ffff:1.2.3.4): must be last and fill two groups.
      if (n > 6) return -1;
      const v4 = fnvIpv4(s, start, end, 0); // validates only
      if (v4 < 0) return -1;
      tailV4 = start;
      break;
    }
    if (digits === 0) return -1;
    groups[n++] = v;
    if (i === end) break;
    if (s.charCodeAt(i) !== 0x3a) return -1;
    i++;
    if (i < end && s.charCodeAt(i) === 0x3a) {
      if (gap >= 0) return -1;
      gap = n;
      i++;
    } else if (i === end) {
      return -1; // trailing single ':'
    }
  }
  if (tailV4 >= 0) {
    // Parse the IPv4 tail into two groups.
    let oct = 0;
    let v = 0;
    const o = [0, 0, 0, 0];
    for (let k = tailV4; k < end; k++) {
      const c = s.charCodeAt(k);
      if (c === 0x2e) {
        o[oct++] = v;
        v = 0;
      } else {
        v = v * 10 + (c - 0x30);
      }
    }
    o[oct] = v;
    groups[n++] = (o[0] << 8) | o[1];
    groups[n++] = (o[2] << 8) | o[3];
  }
  if (gap < 0 ? n !== 8 : n > 7) return -1;
  let h = FNV_OFFSET;
  const zeros = 8 - n;
  for (let g = 0; g < 8; g++) {
    let value: number;
    if (gap < 0 || g < gap) value = groups[g];
    else if (g < gap + zeros) value = 0;
    else value = groups[g - zeros];
    h = fnvByte(fnvByte(h, value >>> 8), value & 0xff);
  }
  return h;
}

/**
 * FNV-1a-32 of the client IP's raw bytes. Text that is neither IPv4 nor IPv6 (should not
 * happen) is hashed as its UTF-8 text, so an election never fails.
 */
export function hashIpUncached(ip: string): number {
  const v4 = fnvIpv4(ip, 0, ip.length, FNV_OFFSET);
  if (v4 >= 0) return v4;
  const v6 = fnvIpv6(ip);
  if (v6 >= 0) return v6;
  return fnvString(FNV_OFFSET, ip);
}

const CACHE_LIMIT = 65536;
const cache = new Map<string, number>();

/** hashIpUncached() behind a bounded per-IP cache (cleared when it reaches 65536 entries). */
export function hashIp(ip: string): number {
  let h = cache.get(ip);
  if (h === undefined) {
    h = hashIpUncached(ip);
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(ip, h);
  }
  return h;
}
