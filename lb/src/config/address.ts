// `host:port` addresses as gobetween's config uses them for `bind`, `api.bind`, `metrics.bind`,
// `srv_lookup_server` and `consul_host`.
import ipaddr from "ipaddr.js";

export interface HostPort {
  /** Host without IPv6 brackets; "" means all addresses. */
  host: string;
  port: number;
}

const HOSTNAME_RE = /^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_.])?$/;

/** True when `ip` is an IPv4 (four-part dotted decimal) or IPv6 literal without a zone. */
export function isIpLiteral(ip: string): boolean {
  if (ipaddr.IPv4.isValidFourPartDecimal(ip)) return true;
  return !ip.includes("%") && ipaddr.IPv6.isValid(ip);
}

/**
 * Splits `host:port` (IPv6 hosts in brackets: `[::1]:80`). The host may be empty (`:80`, all
 * addresses), an IP literal or a hostname; the port must be 1-65535, or 0-65535 with
 * `allowPortZero` (0 = any free port, for listeners). Returns null otherwise.
 */
export function parseHostPort(s: string, allowPortZero = false): HostPort | null {
  const m = /^(.*):([0-9]{1,5})$/.exec(s);
  if (!m) return null;
  const port = Number(m[2]);
  if (port < (allowPortZero ? 0 : 1) || port > 65535) return null;
  let host = m[1];
  if (host.startsWith("[")) {
    if (!host.endsWith("]")) return null;
    host = host.slice(1, -1);
    if (host.includes("%") || !ipaddr.IPv6.isValid(host)) return null;
    return { host, port };
  }
  if (host === "") return { host, port };
  if (/^[0-9.]+$/.test(host))
    return ipaddr.IPv4.isValidFourPartDecimal(host) ? { host, port } : null;
  if (!HOSTNAME_RE.test(host)) return null;
  return { host, port };
}

/**
 * The host to dial or resolve: IPv6 literals lose the brackets a backend line or URL gives them
 * ("[::1]" → "::1"), which net.connect, dgram and DNS would take for a name.
 */
export function unbracketHost(host: string): string {
  return host.length > 2 && host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** The host as written before `:port` or in a URL: IPv6 literals in brackets ("::1" → "[::1]"). */
export function bracketHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/** `host:port`, IPv6 hosts in brackets. */
export function joinHostPort(host: string, port: number): string {
  return `${bracketHost(host)}:${port}`;
}

/**
 * `scheme://host[:port][/]` with a scheme from `schemes` (discovery endpoints). The host comes
 * back without brackets; the port is null when absent (the caller knows the scheme's default).
 */
export function parseUrlHost(
  s: string,
  schemes: readonly string[],
): { scheme: string; host: string; port: number | null } | null {
  const m = /^([a-z]+):\/\/([^/\s]+)\/?$/.exec(s);
  if (!m || !schemes.includes(m[1])) return null;
  const withPort = parseHostPort(m[2]);
  if (withPort) return withPort.host === "" ? null : { scheme: m[1], ...withPort };
  const hostOnly = parseHostPort(`${m[2]}:1`);
  return hostOnly && hostOnly.host !== ""
    ? { scheme: m[1], host: hostOnly.host, port: null }
    : null;
}

/** `consul_host`: `host:port` or `http(s)://host:port`; scheme null when not written. */
export function parseConsulHost(
  s: string,
): { scheme: "http" | "https" | null; host: string; port: number } | null {
  const url = parseUrlHost(s, ["http", "https"]);
  if (url) {
    if (url.port === null) return null;
    return { scheme: url.scheme as "http" | "https", host: url.host, port: url.port };
  }
  const hp = parseHostPort(s);
  return hp && hp.host !== "" ? { scheme: null, ...hp } : null;
}

/** Schemes of a TCP `docker_endpoint` (besides `unix:///path`). */
export const DOCKER_URL_SCHEMES = ["tcp", "http", "https"] as const;

/** True for hosts that only listen on the loopback interface. */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === "localhost") return true;
  if (!isIpLiteral(host)) return false;
  const addr = ipaddr.process(host);
  return addr.range() === "loopback";
}

/** True for the hosts that mean "every address" (`""`, `0.0.0.0`, `::`). */
export function isWildcardHost(host: string): boolean {
  if (host === "") return true;
  if (!isIpLiteral(host)) return false;
  return ipaddr.parse(host).range() === "unspecified";
}

/**
 * Addresses an API client must not point discovery at: link-local (169.254.0.0/16, fe80::/10,
 * which hold the cloud metadata service 169.254.169.254), the EC2 IPv6 metadata address
 * fd00:ec2::254, and the unspecified address (0.0.0.0 / :: reach the host itself).
 * IPv4-mapped IPv6 addresses are judged as their IPv4 address.
 */
export function isLinkLocalOrMetadata(ip: string): boolean {
  const host = unbracketHost(ip);
  if (!ipaddr.isValid(host)) return false;
  let addr = ipaddr.parse(host);
  if (addr.kind() === "ipv6" && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    addr = (addr as ipaddr.IPv6).toIPv4Address();
  }
  const range = addr.range();
  if (range === "linkLocal" || range === "unspecified") return true;
  return addr.kind() === "ipv6" && addr.toNormalizedString() === "fd00:ec2:0:0:0:0:0:254";
}

/** Host names of cloud metadata services (GCE, Azure, Alibaba, OpenStack aliases). */
export const METADATA_HOST_NAMES: ReadonlySet<string> = new Set([
  "metadata",
  "metadata.google.internal",
  "metadata.azure.internal",
  "instance-data",
  "instance-data.ec2.internal",
]);
