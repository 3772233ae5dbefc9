// Validation of a parsed configuration (TOML or JSON, same keys) into the typed LbConfig, with
// every default filled in. gobetween 0.8.2 semantics (reference §1), except where noted:
// every problem is collected (not just the first), unknown keys are warnings naming the full key
// path (gobetween ignores them silently), and a few things gobetween accepts and then misbehaves
// on are errors here (unknown discovery kind, bad static_list lines, bad durations).
//
// Error messages: `<key path>: <what is allowed>, got <value as JSON>`, or
// `<key path>: required (<hint>)`. Key paths use dots and [i] for array indices.
//
// JSON `null` and the empty string mean "not set" (gobetween decodes both to Go's zero value,
// and the REST API returns `null` for absent sections).

import { z } from "zod";
import { isIpLiteral, isLoopbackHost, isWildcardHost, parseHostPort } from "./address";
import { BACKEND_LINE_SYNTAX, parseBackendLine } from "./backend-line";
import { parseDurationNs } from "./duration";
import { compileGoRegexp, translateGoRegexp } from "./go-regexp";
import { decodeGoString } from "./go-string";
import {
  type AccessConfig,
  type ApiConfig,
  type BalanceStrategy,
  ConfigError,
  type ConnectionOptions,
  type DiscoveryConfig,
  type DiscoveryKind,
  type HealthcheckConfig,
  type HealthcheckKind,
  type LbConfig,
  type LoggingConfig,
  type LogLevel,
  type MetricsConfig,
  type Protocol,
  type ServerConfig,
  type ShutdownConfig,
  type StateConfig,
  type UdpConfig,
} from "./types";

type Raw = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Value checks (zod) and their human wording

const BALANCES: readonly BalanceStrategy[] = [
  "weight",
  "roundrobin",
  "leastconn",
  "leastbandwidth",
  "iphash",
  "iphash1",
];
const DISCOVERY_KINDS: readonly DiscoveryKind[] = [
  "static",
  "srv",
  "docker",
  "json",
  "plaintext",
  "exec",
  "consul",
];
const HEALTHCHECK_KINDS: readonly HealthcheckKind[] = ["none", "ping", "probe", "exec"];
const LOG_LEVELS: readonly LogLevel[] = ["trace", "debug", "info", "warn", "error", "fatal"];

const DURATION_EXAMPLES = 'such as "500ms", "10s", "1h30m" or "0"';
const DURATION_EXPECTED = `expected a Go duration ${DURATION_EXAMPLES}`;
const BIND_EXPECTED =
  'expected host:port with a port 0-65535 (IPv6 hosts in brackets such as "[::1]:80", empty host = all addresses)';

function durationOrNull(s: string): bigint | null {
  try {
    return parseDurationNs(s);
  } catch {
    return null;
  }
}

const zString = z.string();
const zBool = z.boolean();
const zStringList = z.array(z.string());
const zDuration = z.string().refine((s) => durationOrNull(s) !== null);
const zBind = z.string().refine((s) => parseHostPort(s, true) !== null);
const zHostPort = z.string().refine((s) => parseHostPort(s) !== null);
const zInt = (min: number, max: number) => z.number().int().min(min).max(max);

function intExpected(min: number, max: number): string {
  return max >= Number.MAX_SAFE_INTEGER
    ? `expected an integer >= ${min}`
    : `expected an integer ${min}-${max}`;
}

function oneOf(values: readonly string[]): string {
  return `expected one of ${values.map((v) => JSON.stringify(v)).join(", ")}`;
}

/** A value as JSON for messages (TOML dates as their text, non-finite numbers as themselves). */
function show(v: unknown): string {
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  if (typeof v === "bigint") return v.toString();
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function isTable(v: unknown): v is Raw {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function join(prefix: string, key: string): string {
  return prefix === "" ? key : `${prefix}.${key}`;
}

/** Keys found in gobetween configs in the wild that gobetween ignores (reference §1.18). */
const IGNORED_IN_THE_WILD: Record<string, string> = {
  exec_timeout_duration: "not a gobetween key; use healthcheck.timeout",
  ping_timeout_duration: "not a gobetween key; use healthcheck.timeout",
  docker_cache_ttl: "not a gobetween key",
  acme_enabled: "not a gobetween key; TLS termination is not supported by geoswarm-lb",
  acme_cache_dir: "not a gobetween key; TLS termination is not supported by geoswarm-lb",
  prefer_server_ciphers: "removed in gobetween 0.8.1",
};

// ---------------------------------------------------------------------------------------------
// Collecting problems

class Report {
  readonly errors: string[] = [];
  readonly warnings: string[] = [];
}

/** One table of the config being read: typed readers that record problems and used keys. */
class Section {
  private readonly used = new Set<string>();

  constructor(
    readonly report: Report,
    readonly path: string,
    readonly raw: Raw,
  ) {}

  at(key: string): string {
    return join(this.path, key);
  }

  /** The raw value (marks the key as known). */
  get(key: string): unknown {
    this.used.add(key);
    return Object.hasOwn(this.raw, key) ? this.raw[key] : undefined;
  }

  /** Set: present and neither null nor "". */
  has(key: string): boolean {
    const v = this.get(key);
    return v !== undefined && v !== null && v !== "";
  }

  error(key: string, message: string): void {
    this.report.errors.push(`${this.at(key)}: ${message}`);
  }

  invalid(key: string, expected: string, value: unknown = this.get(key)): void {
    this.error(key, `${expected}, got ${show(value)}`);
  }

  required(key: string, hint: string): void {
    this.error(key, `required (${hint})`);
  }

  warn(key: string, message: string): void {
    this.report.warnings.push(`${this.at(key)}: ${message}`);
  }

  /** Marks a key as known without reading it. */
  know(...keys: string[]): void {
    for (const k of keys) this.used.add(k);
  }

  /**
   * Reads a set key through a zod schema. Returns undefined when the key is not set, or when
   * the value is invalid (the problem is recorded as "<expected>, got <value>").
   */
  read<T>(key: string, schema: z.ZodType<T>, expected: string): T | undefined {
    if (!this.has(key)) return undefined;
    const v = this.get(key);
    const r = schema.safeParse(v);
    if (!r.success) {
      this.invalid(key, expected, v);
      return undefined;
    }
    return r.data;
  }

  str(key: string, def: string): string;
  str(key: string): string | undefined;
  str(key: string, def?: string): string | undefined {
    return this.read(key, zString, "expected a string") ?? def;
  }

  /** A required string; records "required (hint)" when not set. */
  needStr(key: string, hint: string): string | undefined {
    if (!this.has(key)) {
      this.required(key, hint);
      return undefined;
    }
    return this.str(key);
  }

  bool(key: string, def: boolean): boolean {
    return this.read(key, zBool, "expected true or false") ?? def;
  }

  int(key: string, min: number, max: number, def: number): number;
  int(key: string, min: number, max: number): number | undefined;
  int(key: string, min: number, max: number, def?: number): number | undefined {
    return this.read(key, zInt(min, max), intExpected(min, max)) ?? def;
  }

  enum<T extends string>(key: string, values: readonly T[], def: T, note = ""): T {
    return this.read(key, z.enum(values as [T, ...T[]]), oneOf(values) + note) ?? def;
  }

  /** A non-negative Go duration string, kept as written. */
  duration(key: string, def: string): string;
  duration(key: string): string | undefined;
  duration(key: string, def?: string): string | undefined {
    const s = this.read(key, zDuration, DURATION_EXPECTED);
    if (s === undefined) return def;
    if ((durationOrNull(s) as bigint) < 0n) {
      this.invalid(key, "expected a non-negative Go duration", s);
      return def;
    }
    return s;
  }

  /** A sub-table, or undefined when absent / null (a non-table is recorded as a problem). */
  table(key: string): Section | undefined {
    if (!this.has(key)) return undefined;
    const v = this.get(key);
    if (!isTable(v)) {
      this.invalid(key, "expected a table (object)", v);
      return undefined;
    }
    return new Section(this.report, this.at(key), v);
  }

  /** Warns about every key that was not read or declared known. */
  finish(hint: (key: string) => string | undefined = () => undefined): void {
    for (const key of Object.keys(this.raw)) {
      if (this.used.has(key)) continue;
      const why = hint(key) ?? IGNORED_IN_THE_WILD[key];
      this.report.warnings.push(`unknown key ${this.at(key)} (ignored${why ? `; ${why}` : ""})`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Top-level sections

function readLogging(s: Section | undefined): LoggingConfig {
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

function readBind(s: Section, key: string, def: string): string {
  return s.read(key, zBind, BIND_EXPECTED) ?? def;
}

function readApi(s: Section | undefined): ApiConfig {
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
  const auth = s.table("basic_auth");
  if (auth) {
    const login = auth.needStr("login", "the user name");
    const password = auth.needStr("password", "the password");
    auth.finish();
    if (login !== undefined && password !== undefined) out.basic_auth = { login, password };
  }
  const tls = s.table("tls");
  if (tls) {
    const cert = tls.needStr("cert_path", "PEM certificate file");
    const key = tls.needStr("key_path", "PEM private key file");
    tls.finish();
    if (cert !== undefined && key !== undefined) out.tls = { cert_path: cert, key_path: key };
  }
  if (out.enabled && !out.basic_auth && !out.allow_unauthenticated) {
    const hp = parseHostPort(out.bind, true);
    if (hp && !isLoopbackHost(hp.host)) {
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

function readMetrics(s: Section | undefined): MetricsConfig {
  const out: MetricsConfig = { enabled: false, bind: ":9284" };
  if (!s) return out;
  out.enabled = s.bool("enabled", false);
  out.bind = readBind(s, "bind", ":9284");
  s.finish();
  return out;
}

const BUILTIN_DEFAULTS: ConnectionOptions = {
  max_connections: 0,
  client_idle_timeout: "0",
  backend_idle_timeout: "0",
  backend_connection_timeout: "0",
};

function readDefaults(s: Section | undefined): ConnectionOptions {
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

function readShutdown(s: Section | undefined): ShutdownConfig {
  const out: ShutdownConfig = { grace_period: "10s" };
  if (!s) return out;
  out.grace_period = s.duration("grace_period", "10s");
  s.finish();
  return out;
}

function readState(s: Section | undefined): StateConfig {
  const out: StateConfig = { path: "" };
  if (!s) return out;
  out.path = s.read("path", zString, "expected a file path") ?? "";
  s.finish();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Discovery

const DISCOVERY_KEYS: Record<DiscoveryKind | "lxd", readonly string[]> = {
  static: ["static_list"],
  srv: ["srv_lookup_server", "srv_lookup_pattern", "srv_dns_protocol"],
  docker: [
    "docker_endpoint",
    "docker_container_label",
    "docker_container_private_port",
    "docker_container_host_env_var",
    "docker_tls_enabled",
    "docker_tls_cert_path",
    "docker_tls_key_path",
    "docker_tls_cacert_path",
  ],
  json: [
    "json_endpoint",
    "json_host_pattern",
    "json_port_pattern",
    "json_weight_pattern",
    "json_priority_pattern",
    "json_sni_pattern",
    "json_max_connections_pattern",
  ],
  plaintext: ["plaintext_endpoint", "plaintext_regex_pattern"],
  exec: ["exec_command"],
  consul: [
    "consul_host",
    "consul_service_name",
    "consul_service_tag",
    "consul_service_passing_only",
    "consul_datacenter",
    "consul_service_datacenter",
    "consul_auth_username",
    "consul_auth_password",
    "consul_tls_enabled",
    "consul_tls_cert_path",
    "consul_tls_key_path",
    "consul_tls_cacert_path",
    "consul_acl_token",
  ],
  lxd: [
    "lxd_server_address",
    "lxd_server_remote_name",
    "lxd_server_remote_password",
    "lxd_config_directory",
    "lxd_generate_client_certs",
    "lxd_accept_server_cert",
    "lxd_container_label_key",
    "lxd_container_label_value",
    "lxd_container_port",
    "lxd_container_port_key",
    "lxd_container_interface",
    "lxd_container_interface_key",
    "lxd_container_sni_key",
    "lxd_container_address_type",
  ],
};

function keyOwner(keys: Record<string, readonly string[]>, key: string): string | undefined {
  for (const [kind, list] of Object.entries(keys)) if (list.includes(key)) return kind;
  return undefined;
}

const zHttpUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === "http:" || u.protocol === "https:") && u.host !== "";
  } catch {
    return false;
  }
});

const zDockerEndpoint = z.string().refine((s) => {
  if (/^unix:\/\/\/.+/.test(s)) return true;
  const m = /^(tcp|http|https):\/\/([^/]+)\/?$/.exec(s);
  return m !== null && parseHostPort(m[2]) !== null;
});

const zConsulHost = z
  .string()
  .refine((s) => parseHostPort(s) !== null || /^https?:\/\/[^/\s]+\/?$/.test(s));

function readStaticList(s: Section, out: DiscoveryConfig): void {
  const expected = `expected a non-empty list of backend lines "${BACKEND_LINE_SYNTAX}"`;
  if (!s.has("static_list")) {
    s.required("static_list", `a list of backend lines "${BACKEND_LINE_SYNTAX}"`);
    return;
  }
  const list = s.get("static_list");
  if (!Array.isArray(list) || list.length === 0) {
    s.invalid("static_list", expected, list);
    return;
  }
  const seen = new Map<string, number>();
  let ok = true;
  list.forEach((line, i) => {
    const key = `static_list[${i}]`;
    if (typeof line !== "string") {
      s.invalid(key, `expected a backend line "${BACKEND_LINE_SYNTAX}"`, line);
      ok = false;
      return;
    }
    try {
      const b = parseBackendLine(line);
      const id = `${b.host}:${b.port}`;
      const prev = seen.get(id);
      if (prev !== undefined) {
        s.warn(key, `backend ${id} is also listed at static_list[${prev}] (the later line wins)`);
      }
      seen.set(id, i);
    } catch (err) {
      s.invalid(
        key,
        `expected a backend line "${BACKEND_LINE_SYNTAX}" (${(err as Error).message})`,
        line,
      );
      ok = false;
    }
  });
  if (ok) out.static_list = list as string[];
}

function readDiscoveryKind(s: Section, kind: DiscoveryKind, out: DiscoveryConfig): void {
  const set = (key: string, v: unknown): void => {
    if (v !== undefined) out[key] = v;
  };
  switch (kind) {
    case "static":
      readStaticList(s, out);
      break;
    case "srv": {
      if (!s.has("srv_lookup_server")) s.required("srv_lookup_server", "DNS server host:port");
      set(
        "srv_lookup_server",
        s.read(
          "srv_lookup_server",
          zHostPort,
          'expected a DNS server host:port such as "10.0.0.2:53"',
        ),
      );
      const pattern = s.needStr(
        "srv_lookup_pattern",
        'fully qualified SRV name such as "_web._tcp.service.consul."',
      );
      if (pattern !== undefined && !pattern.endsWith(".")) {
        s.invalid(
          "srv_lookup_pattern",
          'expected a fully qualified SRV name ending with "."',
          pattern,
        );
      } else set("srv_lookup_pattern", pattern);
      set("srv_dns_protocol", s.enum("srv_dns_protocol", ["udp", "tcp"] as const, "udp"));
      break;
    }
    case "docker": {
      if (!s.has("docker_endpoint")) {
        s.required(
          "docker_endpoint",
          '"unix:///var/run/docker.sock", "tcp://host:port" or "http(s)://host:port"',
        );
      }
      set(
        "docker_endpoint",
        s.read(
          "docker_endpoint",
          zDockerEndpoint,
          'expected "unix:///path/to/docker.sock", "tcp://host:port", "http://host:port" or "https://host:port"',
        ),
      );
      if (!s.has("docker_container_private_port")) {
        s.required(
          "docker_container_private_port",
          "the container port to balance, an integer 1-65535",
        );
      }
      set("docker_container_private_port", s.int("docker_container_private_port", 1, 65535));
      set("docker_container_label", s.str("docker_container_label"));
      set("docker_container_host_env_var", s.str("docker_container_host_env_var"));
      set("docker_tls_enabled", s.bool("docker_tls_enabled", false));
      const cert = s.str("docker_tls_cert_path");
      const key = s.str("docker_tls_key_path");
      set("docker_tls_cert_path", cert);
      set("docker_tls_key_path", key);
      set("docker_tls_cacert_path", s.str("docker_tls_cacert_path"));
      if (cert !== undefined && key === undefined) {
        s.required(
          "docker_tls_key_path",
          "docker_tls_cert_path and docker_tls_key_path go together",
        );
      }
      if (key !== undefined && cert === undefined) {
        s.required(
          "docker_tls_cert_path",
          "docker_tls_cert_path and docker_tls_key_path go together",
        );
      }
      break;
    }
    case "json": {
      if (!s.has("json_endpoint")) s.required("json_endpoint", "an http:// or https:// URL");
      set(
        "json_endpoint",
        s.read("json_endpoint", zHttpUrl, "expected an http:// or https:// URL"),
      );
      set("json_host_pattern", s.str("json_host_pattern", "host"));
      set("json_port_pattern", s.str("json_port_pattern", "port"));
      set("json_weight_pattern", s.str("json_weight_pattern", "weight"));
      set("json_priority_pattern", s.str("json_priority_pattern", "priority"));
      set("json_sni_pattern", s.str("json_sni_pattern", "sni"));
      set("json_max_connections_pattern", s.str("json_max_connections_pattern", "max_connections"));
      break;
    }
    case "plaintext": {
      if (!s.has("plaintext_endpoint"))
        s.required("plaintext_endpoint", "an http:// or https:// URL");
      set(
        "plaintext_endpoint",
        s.read("plaintext_endpoint", zHttpUrl, "expected an http:// or https:// URL"),
      );
      const pattern = s.str("plaintext_regex_pattern");
      if (pattern !== undefined) {
        const why = regexpProblem(pattern, ["host", "port"]);
        if (why) {
          s.invalid(
            "plaintext_regex_pattern",
            `expected a regular expression with named groups host and port (${why})`,
            pattern,
          );
        } else set("plaintext_regex_pattern", pattern);
      }
      break;
    }
    case "exec": {
      const cmd = s.get("exec_command");
      if (!s.has("exec_command")) {
        s.required(
          "exec_command",
          'program and arguments such as ["/usr/local/bin/discover", "web"]',
        );
      } else if (
        !Array.isArray(cmd) ||
        cmd.length === 0 ||
        cmd[0] === "" ||
        !zStringList.safeParse(cmd).success
      ) {
        s.invalid(
          "exec_command",
          "expected a non-empty list of strings (program and arguments, no shell)",
          cmd,
        );
      } else set("exec_command", cmd);
      break;
    }
    case "consul": {
      if (!s.has("consul_host"))
        s.required("consul_host", 'Consul HTTP address such as "127.0.0.1:8500"');
      set(
        "consul_host",
        s.read(
          "consul_host",
          zConsulHost,
          'expected a Consul HTTP address host:port such as "127.0.0.1:8500"',
        ),
      );
      set("consul_service_name", s.needStr("consul_service_name", "the Consul service to balance"));
      set("consul_service_tag", s.str("consul_service_tag"));
      set("consul_service_passing_only", s.bool("consul_service_passing_only", false));
      let dc = s.str("consul_datacenter");
      const alias = s.str("consul_service_datacenter");
      if (alias !== undefined) {
        if (dc === undefined) {
          dc = alias;
          s.warn(
            "consul_service_datacenter",
            "read as consul_datacenter (gobetween ignores this spelling from its sample config; rename the key)",
          );
        } else {
          s.warn("consul_service_datacenter", "ignored because consul_datacenter is set");
        }
      }
      set("consul_datacenter", dc);
      set("consul_auth_username", s.str("consul_auth_username"));
      set("consul_auth_password", s.str("consul_auth_password"));
      set("consul_tls_enabled", s.bool("consul_tls_enabled", false));
      set("consul_tls_cert_path", s.str("consul_tls_cert_path"));
      set("consul_tls_key_path", s.str("consul_tls_key_path"));
      set("consul_tls_cacert_path", s.str("consul_tls_cacert_path"));
      set("consul_acl_token", s.str("consul_acl_token"));
      break;
    }
  }
}

/** Why a Go regexp does not compile or lacks required named groups, or undefined. */
function regexpProblem(pattern: string, groups: string[] = []): string | undefined {
  try {
    compileGoRegexp(pattern);
    const names = translateGoRegexp(pattern).groupNames;
    const missing = groups.filter((g) => !names.includes(g));
    if (missing.length > 0)
      return `missing named group ${missing.map((g) => `(?P<${g}>…)`).join(", ")}`;
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function readDiscovery(s: Section): DiscoveryConfig | undefined {
  const errorsBefore = s.report.errors.length;
  let kind: DiscoveryKind | undefined;
  if (!s.has("kind")) {
    s.required("kind", oneOf(DISCOVERY_KINDS).replace("expected ", ""));
  } else {
    const raw = s.get("kind");
    if (typeof raw === "string" && (DISCOVERY_KINDS as readonly string[]).includes(raw)) {
      kind = raw as DiscoveryKind;
    } else {
      const note = raw === "lxd" ? " (lxd discovery is not supported by geoswarm-lb)" : "";
      s.invalid("kind", oneOf(DISCOVERY_KINDS) + note, raw);
    }
  }
  const out: DiscoveryConfig = {
    kind: kind ?? "static",
    failpolicy: s.enum("failpolicy", ["keeplast", "setempty"] as const, "keeplast"),
    interval: s.duration("interval", "0"),
    timeout: s.duration("timeout", "0"),
  };
  if (kind) readDiscoveryKind(s, kind, out);
  s.finish((key) => {
    const owner = keyOwner(DISCOVERY_KEYS, key);
    if (owner === undefined) return undefined;
    if (kind === undefined) return "discovery kind is not valid";
    return `not used by discovery kind ${JSON.stringify(kind)}`;
  });
  return s.report.errors.length === errorsBefore ? out : undefined;
}

// ---------------------------------------------------------------------------------------------
// Healthcheck

const HEALTHCHECK_KEYS: Record<Exclude<HealthcheckKind, "none" | "ping">, readonly string[]> = {
  probe: ["probe_protocol", "probe_strategy", "probe_send", "probe_recv", "probe_recv_len"],
  exec: ["exec_command", "exec_expected_positive_output", "exec_expected_negative_output"],
};

function noHealthcheck(): HealthcheckConfig {
  return {
    kind: "none",
    interval: "0",
    timeout: "0",
    fails: 1,
    passes: 1,
    initial_status: "healthy",
  };
}

function readHealthcheck(s: Section | undefined, protocol: Protocol): HealthcheckConfig {
  if (!s) return noHealthcheck();
  let kind: HealthcheckKind | undefined;
  if (!s.has("kind")) {
    s.required("kind", oneOf(HEALTHCHECK_KINDS).replace("expected ", ""));
  } else {
    kind = s.read("kind", z.enum(HEALTHCHECK_KINDS as [HealthcheckKind]), oneOf(HEALTHCHECK_KINDS));
  }
  const out = noHealthcheck();
  if (kind) out.kind = kind;
  const interval = s.duration("interval");
  if (kind !== undefined && kind !== "none") {
    if (!s.has("interval")) {
      s.required(
        "interval",
        `a duration > 0 such as "5s" for healthcheck kind ${JSON.stringify(kind)}`,
      );
    } else if (interval !== undefined && durationOrNull(interval) === 0n) {
      s.invalid(
        "interval",
        `expected a duration > 0 such as "5s" for healthcheck kind ${JSON.stringify(kind)}`,
        interval,
      );
    }
  }
  out.interval = interval ?? "0";
  out.timeout = s.duration("timeout", "0");
  // gobetween turns fails/passes <= 0 into 1; we keep 0 → 1 and reject negatives.
  const fails = s.int("fails", 0, Number.MAX_SAFE_INTEGER, 1);
  const passes = s.int("passes", 0, Number.MAX_SAFE_INTEGER, 1);
  out.fails = fails === 0 ? 1 : fails;
  out.passes = passes === 0 ? 1 : passes;
  out.initial_status = s.enum("initial_status", ["healthy", "unhealthy"] as const, "healthy");

  if (kind === "ping" && protocol === "udp") {
    s.invalid(
      "kind",
      'expected "probe", "exec" or "none" for a udp server (ping is a TCP connect)',
      kind,
    );
  }
  if (kind === "probe") readProbe(s, out);
  if (kind === "exec") {
    const cmd = s.get("exec_command");
    if (!s.has("exec_command")) {
      s.required("exec_command", "path of one executable, called as <exec_command> <host> <port>");
    } else if (typeof cmd !== "string") {
      s.invalid(
        "exec_command",
        "expected a string (path of one executable, called as <exec_command> <host> <port>)",
        cmd,
      );
    } else out.exec_command = cmd;
    out.exec_expected_positive_output = s.str("exec_expected_positive_output", "");
    out.exec_expected_negative_output = s.str("exec_expected_negative_output", "");
  }
  s.finish((key) => {
    const owner = keyOwner(HEALTHCHECK_KEYS, key);
    if (owner === undefined) return undefined;
    if (kind === undefined) return "healthcheck kind is not valid";
    return `not used by healthcheck kind ${JSON.stringify(kind)}`;
  });
  return out;
}

function readProbe(s: Section, out: HealthcheckConfig): void {
  if (!s.has("probe_protocol")) {
    s.required("probe_protocol", '"tcp" or "udp"');
  } else {
    const raw = s.get("probe_protocol");
    if (raw === "tcp" || raw === "udp") out.probe_protocol = raw;
    else {
      const note = raw === "tls" ? " (TLS probes are not supported by geoswarm-lb)" : "";
      s.invalid("probe_protocol", oneOf(["tcp", "udp"]) + note, raw);
    }
  }
  const strategy = s.enum("probe_strategy", ["starts_with", "regexp"] as const, "starts_with");
  out.probe_strategy = strategy;
  const decoded = (key: string): string | undefined => {
    const v = s.needStr(key, "bytes to send; Go escapes such as \\n and \\x00 are decoded");
    if (v === undefined) return undefined;
    try {
      decodeGoString(v);
      return v;
    } catch (err) {
      s.invalid(key, `expected a string with valid Go escapes (${(err as Error).message})`, v);
      return undefined;
    }
  };
  out.probe_send = decoded("probe_send");
  const recvLen = s.int("probe_recv_len", 0, Number.MAX_SAFE_INTEGER, 0);
  if (strategy === "starts_with") {
    if (!s.has("probe_recv")) {
      s.required("probe_recv", "the bytes the reply must start with; Go escapes are decoded");
    } else out.probe_recv = decoded("probe_recv");
    if (recvLen > 0) {
      s.invalid(
        "probe_recv_len",
        'expected 0 or absent with probe_strategy "starts_with" (the length of probe_recv is used)',
        recvLen,
      );
    }
  } else {
    const re = s.needStr("probe_recv", "a regular expression the reply must match");
    if (re !== undefined) {
      const why = regexpProblem(re);
      if (why) s.invalid("probe_recv", `expected a valid regular expression (${why})`, re);
      else out.probe_recv = re;
    }
    if (
      recvLen === 0 &&
      s.report.errors.every((e) => !e.startsWith(`${s.at("probe_recv_len")}:`))
    ) {
      s.required(
        "probe_recv_len",
        'number of bytes to read, an integer > 0 with probe_strategy "regexp"',
      );
    }
  }
  out.probe_recv_len = recvLen;
  if (out.probe_send === undefined) delete out.probe_send;
  if (out.probe_recv === undefined) delete out.probe_recv;
}

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

const RESERVED_NAMES = new Set(["__proto__", "constructor", "prototype"]);

function readServer(
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
    // gobetween requires one of these so that sessions end. It only looks at the server's own
    // keys (reference §1.13, a bug: a [defaults] timeout is ignored by the check but used at
    // run time). We also count a non-zero timeout inherited from [defaults].
    const ownTimeout = s.has("client_idle_timeout") || s.has("backend_idle_timeout");
    const nonZero = (d: string): boolean => (durationOrNull(d) ?? 0n) > 0n;
    if (
      !ownTimeout &&
      !nonZero(client_idle_timeout) &&
      !nonZero(backend_idle_timeout) &&
      udp.max_requests === 0 &&
      udp.max_responses === 0
    ) {
      s.error(
        "protocol",
        '"udp" requires at least one of client_idle_timeout, backend_idle_timeout (on the server or in [defaults]), udp.max_requests, udp.max_responses, so that sessions end',
      );
    }
  } else if (udpSection) {
    udpSection.finish(() => 'the [udp] table is only used with protocol "udp"');
    s.know("udp");
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

/**
 * Validates one server (a `[servers.<name>]` table, or the body of `POST /servers/:name`),
 * filling defaults (connection options from `defaults` when the server does not set them).
 * Key paths in messages start with `opts.pathPrefix` (default `servers.<name>`; "" gives paths
 * such as `discovery.kind`). Throws ConfigError with every problem.
 */
export function validateServer(
  name: string,
  raw: unknown,
  defaults: ConnectionOptions,
  opts: { pathPrefix?: string } = {},
): { server: ServerConfig; warnings: string[] } {
  const report = new Report();
  const server = readServer(report, name, raw, defaults, opts.pathPrefix ?? `servers.${name}`);
  if (report.errors.length > 0 || !server) throw new ConfigError(report.errors);
  return { server, warnings: report.warnings };
}

interface Listener {
  owner: string;
  protocol: Protocol;
  bind: string;
}

/** Two listeners collide when protocol and port match and a host is equal or a wildcard. */
function collides(a: Listener, b: Listener): boolean {
  if (a.protocol !== b.protocol) return false;
  const ha = parseHostPort(a.bind, true);
  const hb = parseHostPort(b.bind, true);
  if (!ha || !hb || ha.port === 0 || ha.port !== hb.port) return false;
  return (
    ha.host.toLowerCase() === hb.host.toLowerCase() ||
    isWildcardHost(ha.host) ||
    isWildcardHost(hb.host)
  );
}

const TOP_LEVEL_IGNORED: Record<string, string> = {
  profiler: "the Go profiler is not part of geoswarm-lb",
  acme: "TLS termination is not supported by geoswarm-lb",
  globals: "not a gobetween section",
};

/**
 * Validates a whole parsed configuration into LbConfig with every default filled. Returns the
 * configuration and warnings (unknown keys, ignored features); throws ConfigError listing every
 * problem.
 */
export function validateConfig(raw: unknown): { config: LbConfig; warnings: string[] } {
  const report = new Report();
  if (!isTable(raw)) throw new ConfigError([`(root): expected a table (object), got ${show(raw)}`]);
  const root = new Section(report, "", raw);
  const logging = readLogging(root.table("logging"));
  const api = readApi(root.table("api"));
  const metrics = readMetrics(root.table("metrics"));
  const defaults = readDefaults(root.table("defaults"));
  const shutdown = readShutdown(root.table("shutdown"));
  const state = readState(root.table("state"));

  const servers: Record<string, ServerConfig> = {};
  const serversTable = root.table("servers");
  if (serversTable) {
    serversTable.know(...Object.keys(serversTable.raw));
    for (const [name, rawServer] of Object.entries(serversTable.raw)) {
      const server = readServer(report, name, rawServer, defaults, `servers.${name}`);
      if (server) servers[name] = server;
    }
  }

  // Listeners that cannot coexist on one host.
  const listeners: Listener[] = [];
  const enabledHttp: Listener[] = [];
  if (api.enabled) enabledHttp.push({ owner: "api", protocol: "tcp", bind: api.bind });
  if (metrics.enabled) enabledHttp.push({ owner: "metrics", protocol: "tcp", bind: metrics.bind });
  for (const l of enabledHttp) {
    const clash = listeners.find((o) => collides(o, l));
    if (clash) {
      report.errors.push(
        `${l.owner}.bind: expected an address not used by ${clash.owner} (${show(clash.bind)}), got ${show(l.bind)}`,
      );
    }
    listeners.push(l);
  }
  for (const [name, server] of Object.entries(servers)) {
    const l: Listener = { owner: `servers.${name}`, protocol: server.protocol, bind: server.bind };
    const clash = listeners.find((o) => collides(o, l));
    if (clash) {
      report.errors.push(
        `servers.${name}.bind: expected an address not used by ${clash.owner} (${clash.protocol} ${show(clash.bind)}), got ${show(server.bind)}`,
      );
    }
    listeners.push(l);
  }

  root.finish((key) => TOP_LEVEL_IGNORED[key]);
  if (report.errors.length > 0) throw new ConfigError(report.errors);
  return {
    config: { logging, api, metrics, defaults, shutdown, state, servers },
    warnings: report.warnings,
  };
}
