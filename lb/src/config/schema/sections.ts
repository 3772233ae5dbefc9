// Top-level sections other than [servers]: [logging], [api], [metrics], [defaults], and the
// geoswarm extensions [shutdown] and [state].

import { isLoopbackHost, parseHostPort } from "../address";
import type {
  ApiConfig,
  BasicAuth,
  ConnectionOptions,
  LoggingConfig,
  LogLevel,
  MetricsConfig,
  ShutdownConfig,
  StateConfig,
} from "../types";
import { durationOrNull, oneOf, readBind, type Section, zString, zStringList } from "./section";

/** Servers the API may hold before POST answers 403 (config-file servers count too). */
export const DEFAULT_MAX_SERVERS = 256;
export const DEFAULT_API_MAX_CONNECTIONS = 64;
export const DEFAULT_API_REQUEST_TIMEOUT = "10s";

/** "scheme://host[:port]" exactly, as browsers send it in Origin. */
function isOrigin(o: string): boolean {
  try {
    const u = new URL(o);
    return (u.protocol === "http:" || u.protocol === "https:") && u.origin === o;
  } catch {
    return false;
  }
}

function readNames(s: Section, key: string, what: string, ok: (v: string) => boolean): string[] {
  const list = s.read(key, zStringList, `expected a list of ${what}`) ?? [];
  return list.filter((v, i) => {
    if (ok(v)) return true;
    s.invalid(`${key}[${i}]`, `expected ${what}`, v);
    return false;
  });
}

/**
 * [api.basic_auth] / [metrics.basic_auth]: login and exactly one of password, password_file.
 * The file is read later (config/environment.ts); `password` stays "" until then.
 */
function readBasicAuth(auth: Section | undefined): BasicAuth | undefined {
  if (!auth) return undefined;
  const login = auth.needStr("login", "the user name");
  const password = auth.str("password");
  const file = auth.str("password_file");
  if (password !== undefined && file !== undefined) {
    auth.invalid("password_file", "expected either password or password_file, not both", file);
  } else if (password === undefined && file === undefined) {
    auth.required("password", "the password, or password_file naming a file that holds it");
  }
  auth.finish();
  if (login === undefined || (password === undefined) === (file === undefined)) return undefined;
  return file !== undefined
    ? { login, password: "", password_file: file }
    : { login, password: password as string };
}

const LOG_LEVELS: readonly LogLevel[] = ["trace", "debug", "info", "warn", "error", "fatal"];

export function readLogging(s: Section | undefined): LoggingConfig {
  const out: LoggingConfig = { level: "info", output: "stdout", format: "text" };
  if (!s) return out;
  const level = s.read("level", zString, "expected a string");
  if (level !== undefined) {
    const l = level.toLowerCase();
    const aliased = l === "warning" ? "warn" : l === "panic" ? "fatal" : l;
    if ((LOG_LEVELS as readonly string[]).includes(aliased)) out.level = aliased as LogLevel;
    else s.invalid("level", `${oneOf(LOG_LEVELS)} (or "warning", "panic")`, level);
  }
  out.output = s.str("output", "stdout");
  out.format = s.enum("format", ["text", "json"] as const, "text");
  s.finish();
  return out;
}

export function readApi(s: Section | undefined): ApiConfig {
  const out: ApiConfig = {
    enabled: false,
    bind: ":8888",
    cors: false,
    allow_unauthenticated: false,
  };
  if (!s) return out;
  out.enabled = s.bool("enabled", false);
  out.bind = readBind(s, "bind", ":8888");
  out.cors = s.bool("cors", false);
  out.allow_unauthenticated = s.bool("allow_unauthenticated", false);
  const auth = readBasicAuth(s.table("basic_auth"));
  if (auth) out.basic_auth = auth;
  out.allow_exec = s.bool("allow_exec", false);
  out.allow_link_local_discovery = s.bool("allow_link_local_discovery", false);
  out.max_servers = s.int("max_servers", 1, 65535, DEFAULT_MAX_SERVERS);
  out.max_connections = s.int("max_connections", 1, 65535, DEFAULT_API_MAX_CONNECTIONS);
  out.request_timeout = s.duration("request_timeout", DEFAULT_API_REQUEST_TIMEOUT);
  if (durationOrNull(out.request_timeout) === 0n) {
    s.invalid("request_timeout", 'expected a duration > 0 such as "10s"', out.request_timeout);
  }
  out.hosts = readNames(
    s,
    "hosts",
    'host names such as "lb.example.com" (or "*")',
    (h) => h === "*" || /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(h),
  );
  out.cors_origins = readNames(
    s,
    "cors_origins",
    'origins such as "https://ops.example.com"',
    (o) => isOrigin(o),
  );
  if (out.enabled && out.cors && out.cors_origins.length === 0) {
    s.warn(
      "cors",
      'true without api.cors_origins allows no cross-origin caller; list the origins (such as "https://ops.example.com") in cors_origins',
    );
  }
  const tls = s.table("tls");
  if (tls) {
    const cert = tls.needStr("cert_path", "PEM certificate file");
    const key = tls.needStr("key_path", "PEM private key file");
    tls.finish();
    if (cert !== undefined && key !== undefined) out.tls = { cert_path: cert, key_path: key };
  }
  const hp = parseHostPort(out.bind, true);
  const exposed = hp !== null && !isLoopbackHost(hp.host);
  // A warning, not a refusal: gobetween configs (the article's among them) do exactly this.
  if (out.enabled && out.basic_auth && !out.tls && exposed) {
    s.warn(
      "basic_auth",
      `the API serves plain HTTP on ${JSON.stringify(out.bind)}, so the password crosses the network in clear; set [api.tls] cert_path and key_path, or bind to a loopback address`,
    );
  }
  if (out.enabled && !out.basic_auth && !out.allow_unauthenticated) {
    if (exposed) {
      s.invalid(
        "bind",
        "expected a loopback address when [api.basic_auth] is not set (or set api.allow_unauthenticated = true)",
        out.bind,
      );
    }
  }
  s.finish();
  return out;
}

export function readMetrics(s: Section | undefined): MetricsConfig {
  const out: MetricsConfig = { enabled: false, bind: ":9284" };
  if (!s) return out;
  out.enabled = s.bool("enabled", false);
  out.bind = readBind(s, "bind", ":9284");
  const auth = readBasicAuth(s.table("basic_auth"));
  if (auth) out.basic_auth = auth;
  s.finish();
  return out;
}

const BUILTIN_DEFAULTS: ConnectionOptions = {
  max_connections: 0,
  client_idle_timeout: "0",
  backend_idle_timeout: "0",
  backend_connection_timeout: "0",
};

export function readDefaults(s: Section | undefined): ConnectionOptions {
  const out = { ...BUILTIN_DEFAULTS };
  if (!s) return out;
  out.max_connections = s.int("max_connections", 0, Number.MAX_SAFE_INTEGER, 0);
  out.client_idle_timeout = s.duration("client_idle_timeout", "0");
  out.backend_idle_timeout = s.duration("backend_idle_timeout", "0");
  out.backend_connection_timeout = s.duration("backend_connection_timeout", "0");
  s.finish((key) =>
    key === "protocol" || key === "balance"
      ? "only max_connections and the three timeouts can have defaults; set it on each server"
      : undefined,
  );
  return out;
}

export function readShutdown(s: Section | undefined): ShutdownConfig {
  const out: ShutdownConfig = { grace_period: "10s" };
  if (!s) return out;
  out.grace_period = s.duration("grace_period", "10s");
  s.finish();
  return out;
}

export function readState(s: Section | undefined): StateConfig {
  const out: StateConfig = { path: "" };
  if (!s) return out;
  out.path = s.read("path", zString, "expected a file path") ?? "";
  s.finish();
  return out;
}
