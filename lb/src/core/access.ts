// Access rules `allow|deny <ip|cidr>`: first match wins, else the default. Rules are compiled once
// per server; the per-connection check parses the client address once and walks the list.
import ipaddr from "ipaddr.js";
import type { AccessConfig } from "../config/types";

interface CompiledRule {
  allow: boolean;
  kind: "ipv4" | "ipv6";
  range: [ipaddr.IPv4 | ipaddr.IPv6, number];
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
  return { allow: verb === "allow", kind: range[0].kind(), range };
}

/** Reduces an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) to plain IPv4 text. */
export function normalizeClientIp(ip: string | undefined): string {
  if (!ip) return "";
  return ip.startsWith("::ffff:") && ip.indexOf(".") !== -1 ? ip.slice(7) : ip;
}
