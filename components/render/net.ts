// Pure IPv4/CIDR helpers and value grammars shared by the config schema and the renderers.

/** Go duration as gobetween accepts it: "0" or sequences like "1m30s", "250ms". */
export const GO_DURATION = /^(0|(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+)$/;

function ipToInt(ip: string): number | undefined {
  const parts = ip.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
}

function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

/** Parses "a.b.c.d/len" whose address is the network address; undefined when not. */
export function parseCidr(cidr: string): { base: number; prefix: number } | undefined {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(cidr);
  if (!m) return undefined;
  const base = ipToInt(m[1]);
  const prefix = Number(m[2]);
  if (base === undefined || prefix > 32) return undefined;
  const size = 2 ** (32 - prefix);
  if (base % size !== 0) return undefined;
  return { base, prefix };
}

export const isIpv4Cidr = (cidr: string): boolean => parseCidr(cidr) !== undefined;

/** Pairs of indices [earlier, later] whose CIDRs overlap. */
export function overlappingCidrs(cidrs: string[]): [number, number][] {
  const parsed = cidrs.map(parseCidr);
  const out: [number, number][] = [];
  for (let b = 0; b < parsed.length; b++) {
    for (let a = 0; a < b; a++) {
      const x = parsed[a];
      const y = parsed[b];
      if (!x || !y) continue;
      const xEnd = x.base + 2 ** (32 - x.prefix);
      const yEnd = y.base + 2 ** (32 - y.prefix);
      if (x.base < yEnd && y.base < xEnd) out.push([a, b]);
    }
  }
  return out;
}

/**
 * The public subnet of a region: the first /24 of the VPC CIDR (or the whole VPC when it is
 * already /24 or smaller, down to AWS's minimum /28).
 */
export function publicSubnetCidr(vpcCidr: string): string {
  const c = parseCidr(vpcCidr);
  if (!c) throw new Error(`not an IPv4 CIDR: ${vpcCidr}`);
  if (c.prefix > 28) throw new Error(`VPC CIDR ${vpcCidr} is smaller than AWS's minimum /28`);
  return `${intToIp(c.base)}/${Math.max(c.prefix, 24)}`;
}

/** "203.0.113.7" → "203.0.113.7/32". */
export const hostCidr = (ip: string): string => `${ip}/32`;

/** A CIDR or name as it may appear inside a resource name: `10.0.0.0/8` → `10-0-0-0-8`. */
export const slug = (s: string): string => s.replace(/[^A-Za-z0-9-]+/g, "-").replace(/^-|-$/g, "");
