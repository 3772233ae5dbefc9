// Access rules `allow|deny <ip|cidr>`: first match wins, else the default. Rules are compiled once
// per server; the per-connection check parses the client address once and walks the list.
// Hot path: IPv4 rules are also kept as (network, mask) integers, and a dotted-quad client address
// (what Node reports for IPv4 peers) is parsed by hand, so the common case allocates nothing.
// Any other text (IPv6, unusual IPv4 forms) goes through ipaddr.js, as before.
import ipaddr from "ipaddr.js";
import type { AccessConfig } from "../config/types";

interface CompiledRule {
  allow: boolean;
  kind: "ipv4" | "ipv6";
  range: [ipaddr.IPv4 | ipaddr.IPv6, number];
  /** IPv4 rules: network and mask as unsigned 32-bit integers (0 for IPv6 rules). */
  net: number;
  mask: number;
}

export class AccessList {
  private readonly rules: CompiledRule[];
  private readonly defaultAllow: boolean;

  constructor(cfg: AccessConfig) {
    this.defaultAllow = cfg.default !== "deny";
    this.rules = cfg.rules.map((rule) => compileRule(rule));
  }

  /** True when the client may connect. Accepts IPv4, IPv6 and IPv4-mapped IPv6 text. */
  allows(clientIp: string): boolean {
    if (this.rules.length === 0) return this.defaultAllow;
    const v4 = parseDottedQuad(clientIp);
    if (v4 !== -1) {
      for (const rule of this.rules) {
        if (rule.kind === "ipv4" && (v4 & rule.mask) >>> 0 === rule.net) return rule.allow;
      }
      return this.defaultAllow;
    }
    let addr: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      addr = ipaddr.process(stripZone(clientIp));
    } catch {
      return false;
    }
    const kind = addr.kind();
    for (const rule of this.rules) {
      if (rule.kind === kind && addr.match(rule.range as never)) return rule.allow;
    }
    return this.defaultAllow;
  }
}

function stripZone(ip: string): string {
  const i = ip.indexOf("%");
  return i === -1 ? ip : ip.slice(0, i);
}

/** Compiles one rule; the config validator has already checked its syntax. */
function compileRule(rule: string): CompiledRule {
  const [verb, target] = rule.split(" ");
  let range: [ipaddr.IPv4 | ipaddr.IPv6, number];
  if (target.includes("/")) {
    range = ipaddr.parseCIDR(target);
    if (range[0].kind() === "ipv6" && (range[0] as ipaddr.IPv6).isIPv4MappedAddress()) {
      const v4 = (range[0] as ipaddr.IPv6).toIPv4Address();
      range = [v4, Math.max(0, range[1] - 96)];
    }
  } else {
    const addr = ipaddr.process(target);
    range = [addr, addr.kind() === "ipv4" ? 32 : 128];
  }
  const kind = range[0].kind();
  let net = 0;
  let mask = 0;
  if (kind === "ipv4") {
    const o = (range[0] as ipaddr.IPv4).octets;
    mask = range[1] === 0 ? 0 : (0xffffffff << (32 - range[1])) >>> 0;
    net = ((((o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3]) >>> 0) & mask) >>> 0;
  }
  return { allow: verb === "allow", kind, range, net, mask };
}

/**
 * Canonical dotted-quad IPv4 (`a.b.c.d`, decimal 0-255, no leading zeros) as an unsigned 32-bit
 * integer; -1 for anything else, which the caller hands to ipaddr.js.
 */
export function parseDottedQuad(ip: string): number {
  const n = ip.length;
  if (n < 7 || n > 15) return -1;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < n; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1; // leading zero: ipaddr.js reads it as octal
      octet = octet * 10 + (c - 48);
      if (octet > 255) return -1;
      digits++;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

/** Reduces an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) to plain IPv4 text. */
export function normalizeClientIp(ip: string | undefined): string {
  if (!ip) return "";
  return ip.startsWith("::ffff:") && ip.indexOf(".") !== -1 ? ip.slice(7) : ip;
}
