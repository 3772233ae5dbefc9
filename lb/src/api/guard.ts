// What the API refuses before any route runs, and what it refuses in a server body even when the
// body is valid. Each refusal names the config-file setting that allows it.
//
// Requests: a body only as application/json (415: a browser can send text/plain cross-site
// without a preflight); a Host header that is an IP literal, "localhost" or listed in api.hosts
// (403: DNS rebinding makes a foreign name point at loopback); an Origin that is the API's own or
// listed in api.cors_origins (403: cross-site requests).
// Server bodies: exec discovery and exec healthchecks (403 unless api.allow_exec: they run
// commands as the balancer's user), discovery addresses that are link-local or cloud metadata
// (403 unless api.allow_link_local_discovery: SSRF).
import type { FastifyReply, FastifyRequest } from "fastify";
import {
  DOCKER_URL_SCHEMES,
  isIpLiteral,
  isLinkLocalOrMetadata,
  METADATA_HOST_NAMES,
  parseConsulHost,
  parseHostPort,
  parseUrlHost,
  unbracketHost,
} from "../config/address";
import type { ApiConfig, ServerConfig } from "../config/types";

/** JSON bodies nested deeper than this are refused (400) before they are parsed. */
export const MAX_BODY_DEPTH = 32;

function hostOf(hostHeader: string): string {
  const hp = parseHostPort(hostHeader);
  return unbracketHost(hp ? hp.host : hostHeader).toLowerCase();
}

/** Why a request is refused before routing ({status, message}), or undefined. */
export function requestRefusal(
  req: FastifyRequest,
  cfg: ApiConfig,
): { status: number; message: string } | undefined {
  const hostHeader = req.headers.host;
  const hosts = (cfg.hosts ?? []).map((h) => h.toLowerCase());
  if (hostHeader !== undefined && !hosts.includes("*")) {
    const host = hostOf(hostHeader);
    if (!isIpLiteral(host) && host !== "localhost" && !hosts.includes(host)) {
      return {
        status: 403,
        message: `Host: ${JSON.stringify(hostHeader)} is not a name of this API (a DNS-rebinding guard); use an IP address or "localhost", or list the name in api.hosts`,
      };
    }
  }
  const origin = req.headers.origin;
  if (origin !== undefined) {
    const scheme = cfg.tls ? "https" : "http";
    const own =
      hostHeader !== undefined &&
      origin.toLowerCase() === `${scheme}://${hostHeader}`.toLowerCase();
    const allowed = cfg.cors && (cfg.cors_origins ?? []).includes(origin);
    if (!own && !allowed) {
      return {
        status: 403,
        message: `Origin: ${JSON.stringify(origin)} may not call this API; list it in api.cors_origins (with api.cors = true)`,
      };
    }
  }
  const hasBody =
    (req.headers["content-length"] !== undefined && req.headers["content-length"] !== "0") ||
    req.headers["transfer-encoding"] !== undefined;
  if (hasBody) {
    const type = (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
    if (type !== "application/json") {
      return {
        status: 415,
        message: `Content-Type: expected "application/json", got ${JSON.stringify(req.headers["content-type"] ?? "")}`,
      };
    }
  }
  return undefined;
}

/** Deepest nesting of arrays and objects in JSON text (strings skipped); stops past `limit`. */
export function jsonDepth(text: string, limit = MAX_BODY_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/**
 * A host as resolvers read it: the WHATWG URL parser turns "0xa9fea9fe", "2852039166" or
 * "169.254.43518" into 169.254.169.254, as getaddrinfo would.
 */
function canonicalHost(host: string): string {
  const h = unbracketHost(host);
  const url = `http://${h.includes(":") ? `[${h}]` : h}/`;
  return unbracketHost(URL.canParse(url) ? new URL(url).hostname : h).toLowerCase();
}

/** The host a discovery source would connect to, for each address key a kind has. */
function discoveryHosts(d: ServerConfig["discovery"]): Array<{ key: string; host: string }> {
  const out: Array<{ key: string; host: string }> = [];
  const add = (key: string, host: string | undefined): void => {
    if (host !== undefined) out.push({ key, host: canonicalHost(host) });
  };
  for (const key of ["json_endpoint", "plaintext_endpoint"]) {
    const v = d[key];
    if (typeof v === "string") add(key, URL.canParse(v) ? new URL(v).hostname : undefined);
  }
  if (typeof d.consul_host === "string") add("consul_host", parseConsulHost(d.consul_host)?.host);
  if (typeof d.docker_endpoint === "string" && !d.docker_endpoint.startsWith("unix:")) {
    add("docker_endpoint", parseUrlHost(d.docker_endpoint, DOCKER_URL_SCHEMES)?.host);
  }
  if (typeof d.srv_lookup_server === "string") {
    add("srv_lookup_server", parseHostPort(d.srv_lookup_server)?.host);
  }
  return out;
}

/**
 * Why a valid server body is refused through the API (403 and the message), or undefined.
 * The config file is not subject to this: its author runs the balancer.
 */
export function serverRefusal(server: ServerConfig, cfg: ApiConfig): string | undefined {
  if (!cfg.allow_exec) {
    for (const [key, kind] of [
      ["discovery.kind", server.discovery.kind],
      ["healthcheck.kind", server.healthcheck.kind],
    ]) {
      if (kind === "exec") {
        return `${key}: "exec" runs a command on the balancer's host and is refused through the API; set api.allow_exec = true in the config file to allow it (or define the server in the config file)`;
      }
    }
  }
  if (!cfg.allow_link_local_discovery) {
    for (const { key, host } of discoveryHosts(server.discovery)) {
      if (isLinkLocalOrMetadata(host) || METADATA_HOST_NAMES.has(host)) {
        return `discovery.${key}: ${JSON.stringify(host)} is a link-local or cloud metadata address, refused through the API; set api.allow_link_local_discovery = true in the config file to allow it`;
      }
    }
  }
  return undefined;
}

/** Sends a refusal as the API's JSON error. */
export function refuse(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply
    .code(status)
    .header("content-type", "application/json; charset=utf-8")
    .send(`${JSON.stringify({ error: message }, null, 4)}\n`);
}

/** Warnings as RFC 7234 `Warning: 299` values (printable ASCII only, quotes escaped). */
export function warningHeaders(warnings: string[]): string[] {
  return warnings.slice(0, 20).map((w) => {
    const text = w
      .replace(/[\\"]/g, "\\$&")
      .replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
    return `299 geoswarm-lb "${text}"`;
  });
}
