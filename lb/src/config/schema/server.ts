// One [servers.<name>] table: listener, balancing and connection options, and its [access],
// [proxy_protocol] and [udp] sub-tables ([discovery] and [healthcheck] have their own modules).

import { isIpLiteral } from "../address";
import type {
  AccessConfig,
  BalanceStrategy,
  ConnectionOptions,
  DiscoveryConfig,
  Protocol,
  ServerConfig,
  UdpConfig,
} from "../types";
import { readDiscovery } from "./discovery";
import { readHealthcheck } from "./healthcheck";
import { durationOrNull, isTable, oneOf, type Report, readBind, Section, show } from "./section";

export const BALANCES: readonly BalanceStrategy[] = [
  "weight",
  "roundrobin",
  "leastconn",
  "leastbandwidth",
  "iphash",
  "iphash1",
];

// ---------------------------------------------------------------------------------------------
// Access, PROXY protocol, UDP

function accessRuleOk(rule: string): boolean {
  const parts = rule.split(" ");
  if (parts.length !== 2 || (parts[0] !== "allow" && parts[0] !== "deny")) return false;
  const target = parts[1];
  const slash = target.indexOf("/");
  if (slash < 0) return isIpLiteral(target);
  const ip = target.slice(0, slash);
  const bits = target.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(bits) || !isIpLiteral(ip)) return false;
  const max = ip.includes(":") ? 128 : 32;
  return Number(bits) <= max;
}

function readAccess(s: Section | undefined): AccessConfig | null {
  if (!s) return null;
  const out: AccessConfig = {
    default: s.enum("default", ["allow", "deny"] as const, "allow"),
    rules: [],
  };
  if (s.has("rules")) {
    const rules = s.get("rules");
    if (!Array.isArray(rules)) {
      s.invalid("rules", 'expected a list of "allow <ip|cidr>" / "deny <ip|cidr>" strings', rules);
    } else {
      rules.forEach((rule, i) => {
        if (typeof rule === "string" && accessRuleOk(rule)) out.rules.push(rule);
        else s.invalid(`rules[${i}]`, 'expected "allow <ip|cidr>" or "deny <ip|cidr>"', rule);
      });
    }
  }
  s.finish();
  return out;
}

function readProxyProtocol(
  s: Section | undefined,
  protocol: Protocol,
): { version: "1" | "2" } | null {
  if (!s) return null;
  let version: "1" | "2" = "1";
  if (!s.has("version")) s.required("version", '"1" (text) or "2" (binary)');
  else {
    const v = s.get("version");
    if (v === "1" || v === 1) version = "1";
    else if (v === "2" || v === 2) version = "2";
    else s.invalid("version", 'expected "1" or "2"', v);
  }
  if (protocol !== "tcp") {
    s.report.errors.push(
      `${s.path}: only supported with protocol "tcp", got protocol ${show(protocol)}`,
    );
  }
  s.finish();
  return { version };
}

function readUdp(s: Section | undefined): UdpConfig {
  const out: UdpConfig = { max_requests: 0, max_responses: 0, transparent: false };
  if (!s) return out;
  out.max_requests = s.int("max_requests", 0, Number.MAX_SAFE_INTEGER, 0);
  out.max_responses = s.int("max_responses", 0, Number.MAX_SAFE_INTEGER, 0);
  out.transparent = s.bool("transparent", false);
  if (out.transparent)
    s.warn(
      "transparent",
      "not supported, ignored (replies are relayed from the balancer's address)",
    );
  s.finish();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Servers

const UNSUPPORTED_SECTIONS: Record<string, string> = {
  tls: 'not supported by geoswarm-lb (no TLS termination; use protocol "tcp" to pass TLS through to the backends)',
  backends_tls: "not supported by geoswarm-lb (no TLS towards backends)",
  sni: "not supported by geoswarm-lb (no SNI-based routing)",
};

/**
 * How long a UDP session lives without a client packet when neither client_idle_timeout nor
 * backend_idle_timeout is set: source addresses can be spoofed, so a session that never ends
 * would let anyone exhaust file descriptors.
 */
export const UDP_DEFAULT_IDLE_TIMEOUT = "30s";

const RESERVED_NAMES = new Set(["__proto__", "constructor", "prototype"]);

/** Names the API and the state file accept: they appear in URLs, logs, metrics and file names. */
const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Why a server name sent through the API or kept in the state file is refused, or undefined. */
export function serverNameProblem(name: string): string | undefined {
  if (SERVER_NAME.test(name) && !RESERVED_NAMES.has(name)) return undefined;
  return `expected 1-128 characters of letters, digits, ".", "_" or "-" starting with a letter or digit, got ${JSON.stringify(name)}`;
}

export function readServer(
  report: Report,
  name: string,
  raw: unknown,
  defaults: ConnectionOptions,
  path: string,
): ServerConfig | undefined {
  const errorsBefore = report.errors.length;
  if (!isTable(raw)) {
    report.errors.push(
      `${path === "" ? "(server)" : path}: expected a table (object), got ${show(raw)}`,
    );
    return undefined;
  }
  if (name === "" || RESERVED_NAMES.has(name)) {
    report.errors.push(
      `${path === "" ? "(server)" : path}: expected a server name other than ${show(name)}`,
    );
    return undefined;
  }
  const s = new Section(report, path, raw);

  if (!s.has("bind")) s.required("bind", "host:port");
  const bind = readBind(s, "bind", "");

  let protocol: Protocol = "tcp";
  if (s.has("protocol")) {
    const p = s.get("protocol");
    if (p === "tcp" || p === "udp") protocol = p;
    else {
      const note =
        p === "tls"
          ? ' (TLS termination is not supported by geoswarm-lb; use protocol "tcp" to pass TLS through)'
          : "";
      s.invalid("protocol", oneOf(["tcp", "udp"]) + note, p);
    }
  }
  const balance = s.enum("balance", BALANCES, "weight");
  const max_connections =
    s.int("max_connections", 0, Number.MAX_SAFE_INTEGER) ?? defaults.max_connections;
  const client_idle_timeout = s.duration("client_idle_timeout") ?? defaults.client_idle_timeout;
  const backend_idle_timeout = s.duration("backend_idle_timeout") ?? defaults.backend_idle_timeout;
  const backend_connection_timeout =
    s.duration("backend_connection_timeout") ?? defaults.backend_connection_timeout;
  const backend_connection_retries = s.int("backend_connection_retries", 0, 10, 2);

  let discovery: DiscoveryConfig | undefined;
  const discoverySection = s.table("discovery");
  if (discoverySection) discovery = readDiscovery(discoverySection);
  else if (!s.has("discovery")) {
    s.required("discovery", `a [${path === "" ? "" : `${path}.`}discovery] table with a kind`);
  }

  const healthcheck = readHealthcheck(s.table("healthcheck"), protocol);
  const access = readAccess(s.table("access"));
  const proxy_protocol = readProxyProtocol(s.table("proxy_protocol"), protocol);

  let udp: UdpConfig | null = null;
  const udpSection = s.table("udp");
  if (protocol === "udp") {
    udp = readUdp(udpSection);
    // gobetween 0.8 refuses a udp server without one of these, but its later versions and its
    // sample configs do not; sessions end anyway here, after UDP_DEFAULT_IDLE_TIMEOUT.
  } else if (udpSection) {
    udpSection.finish(() => 'the [udp] table is only used with protocol "udp"');
    s.know("udp");
  }

  const noIdle = (durationOrNull(client_idle_timeout) ?? 0n) === 0n;
  if (protocol === "tcp" && max_connections > 0 && noIdle) {
    s.warn(
      "max_connections",
      `${max_connections} with no client_idle_timeout: idle clients can hold every slot forever; set client_idle_timeout (on the server or in [defaults])`,
    );
  }

  for (const [key, why] of Object.entries(UNSUPPORTED_SECTIONS)) {
    if (s.has(key)) s.error(key, why);
  }

  s.finish((key) =>
    key === "transparent" ? "gobetween ignores it too; for UDP use [udp] transparent" : undefined,
  );

  if (report.errors.length !== errorsBefore || !discovery) return undefined;
  return {
    bind,
    protocol,
    balance,
    max_connections,
    client_idle_timeout,
    backend_idle_timeout,
    backend_connection_timeout,
    backend_connection_retries,
    discovery,
    healthcheck,
    access,
    proxy_protocol,
    udp,
  };
}
