// The configuration model of geoswarm-lb, in gobetween's key names (snake_case).
// These are the shapes AFTER validation and defaults: every optional gobetween key that has a
// default is filled in, durations stay Go duration strings (the REST API returns them as such)
// and are turned into milliseconds with parseDuration() where they are used.
// This file is the contract shared by the balancer, the REST API and the Pulumi components.

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal";

export interface LoggingConfig {
  /** Default "info". gobetween's "warning" and "panic" are accepted as aliases. */
  level: LogLevel;
  /** "stdout" (default), "stderr" or a file path (appended to). */
  output: string;
  /** "text" (default) or "json". */
  format: "text" | "json";
}

export interface ApiConfig {
  /** Default false. */
  enabled: boolean;
  /** host:port, default ":8888". */
  bind: string;
  /**
   * Default false. true answers CORS preflights, but only for the origins in `cors_origins`
   * (gobetween echoed every origin, with credentials).
   */
  cors: boolean;
  /**
   * geoswarm extension: origins ("https://ops.example.com") allowed to call the API from a
   * browser when `cors` is true. Default []: every cross-origin request is refused (403).
   */
  cors_origins?: string[];
  /**
   * geoswarm extension: Host header names the API answers to, besides IP literals and
   * "localhost". Default []. "*" accepts any name (turns the DNS-rebinding check off).
   */
  hosts?: string[];
  /** `password_file` is read at load time into `password` (its path is kept). */
  basic_auth?: BasicAuth;
  tls?: { cert_path: string; key_path: string };
  /**
   * geoswarm extension: serve the API on a non-loopback address without basic auth.
   * Default false: the balancer refuses to start in that case.
   */
  allow_unauthenticated?: boolean;
  /**
   * geoswarm extension: let API clients create servers with exec discovery or exec
   * healthchecks (commands run as the balancer's user). Default false: 403.
   */
  allow_exec?: boolean;
  /**
   * geoswarm extension: let API clients point discovery at link-local addresses (169.254.0.0/16,
   * fe80::/10, cloud metadata). Default false: 403.
   */
  allow_link_local_discovery?: boolean;
  /** geoswarm extension: most servers the API may add (all servers count). Default 256. */
  max_servers?: number;
  /** geoswarm extension: longest time to receive one request, headers and body. Default "10s". */
  request_timeout?: string;
  /** geoswarm extension: most concurrent API connections. Default 64. */
  max_connections?: number;
}

/** Basic auth credentials; exactly one of `password`, `password_file` is written in the config. */
export interface BasicAuth {
  login: string;
  /** The password (read from `password_file` when that is set). */
  password: string;
  /** geoswarm extension: a file holding the password (trailing newline ignored). */
  password_file?: string;
}

export interface MetricsConfig {
  /** Default false. */
  enabled: boolean;
  /** host:port, default ":9284". */
  bind: string;
  /** geoswarm extension: basic auth on /metrics. Default none. */
  basic_auth?: BasicAuth;
}

/** Keys of [defaults]; copied into each server that does not set them. */
export interface ConnectionOptions {
  /** Max concurrent client connections of a TCP server; 0 = unlimited (default). */
  max_connections: number;
  /** Max silence from the client, Go duration; "0" = none (default). */
  client_idle_timeout: string;
  /** Max silence from the backend, Go duration; "0" = none (default). */
  backend_idle_timeout: string;
  /** Backend dial timeout, Go duration; "0" = OS default (default). */
  backend_connection_timeout: string;
}

/** geoswarm extension: process lifecycle. */
export interface ShutdownConfig {
  /** How long SIGTERM/SIGINT waits for live connections before closing them. Default "10s". */
  grace_period: string;
}

/** geoswarm extension: where servers created, updated or deleted through the API are kept. */
export interface StateConfig {
  /**
   * JSON file written atomically after every API change and merged over the config file's
   * servers at start and on reload. Default "" = API changes live in memory only (gobetween).
   */
  path: string;
}

/**
 * geoswarm extension: `[providers.docker]`, servers made from container labels (docs/lb.md,
 * "Entry points from container labels"). Absent = off.
 */
export interface DockerProviderConfig {
  /** Required: unix:///path, tcp://host[:port], http(s)://host[:port] (as docker_endpoint). */
  endpoint: string;
  /** Default false. */
  tls_enabled: boolean;
  /** Client certificate and key (together); default none. */
  tls_cert_path?: string;
  tls_key_path?: string;
  /** CA of the daemon's certificate; default none (the certificate is not verified). */
  tls_cacert_path?: string;
  /** Prefix of the labels read, default "geoswarm.lb.". */
  label_prefix: string;
  /** Address the label servers bind, default "0.0.0.0". */
  listen_host: string;
  /** Required: listen ports labels may ask for, "first-last" inclusive (or one port). */
  port_range: string;
  /** How long a server without containers keeps its listener, Go duration, default "30s". */
  drain_grace: string;
  /** Full resync besides the event stream, Go duration > 0, default "1m". */
  resync_interval: string;
  /** A "key" or "key=value" label a container or service must also carry; default "" (any). */
  container_filter: string;
  /**
   * Host ports a backend may be published on, "first-last" inclusive; a port outside is refused
   * (e.g. the range a firewall lets the balancer reach). Default none: any port.
   */
  backend_port_range?: string;
}

/** geoswarm extension: `[providers]`, sources of servers besides the config file and the API. */
export interface ProvidersConfig {
  docker?: DockerProviderConfig;
}

export type Protocol = "tcp" | "udp";
export type BalanceStrategy =
  | "weight"
  | "roundrobin"
  | "leastconn"
  | "leastbandwidth"
  | "iphash"
  | "iphash1";

export type DiscoveryKind = "static" | "srv" | "docker" | "json" | "plaintext" | "exec" | "consul";

export interface DiscoveryConfig {
  kind: DiscoveryKind;
  /** Default "keeplast". */
  failpolicy: "keeplast" | "setempty";
  /** Pause between fetches, Go duration. "0" (default) = fetch once. */
  interval: string;
  /** Per-fetch timeout, Go duration. "0" = the kind's own default. */
  timeout: string;
  static_list?: string[];
  /** Kind-specific keys (srv_*, docker_*, json_*, plaintext_*, exec_command, consul_*). */
  [key: string]: unknown;
}

export type HealthcheckKind = "none" | "ping" | "probe" | "exec";

export interface HealthcheckConfig {
  kind: HealthcheckKind;
  /** Go duration, > 0 unless kind is "none". Default "0". */
  interval: string;
  /** Per-check timeout, Go duration; "0" = none. */
  timeout: string;
  /** Consecutive failures to mark a backend down. Default 1. */
  fails: number;
  /** Consecutive passes to mark a backend up. Default 1. */
  passes: number;
  /** Live state of a newly discovered backend. Default "healthy". */
  initial_status: "healthy" | "unhealthy";
  probe_protocol?: "tcp" | "udp";
  probe_strategy?: "starts_with" | "regexp";
  /** Bytes to send; Go string escapes such as \xNN, \n are decoded. */
  probe_send?: string;
  probe_recv?: string;
  probe_recv_len?: number;
  /** Executable called as `<exec_command> <host> <port>`. */
  exec_command?: string;
  exec_expected_positive_output?: string;
  exec_expected_negative_output?: string;
}

export interface AccessConfig {
  /** Default "allow". */
  default: "allow" | "deny";
  /** "allow <ip|cidr>" / "deny <ip|cidr>", first match wins. */
  rules: string[];
}

export interface UdpConfig {
  /**
   * Client packets per session; 0 = unlimited. After the N-th the session retires: the client's
   * next packet opens a new session, the retired one still relays replies until it ends.
   */
  max_requests: number;
  /** Replies per session before it closes; 0 = unlimited. */
  max_responses: number;
  /** Accepted for compatibility; not supported (a warning is logged). */
  transparent: boolean;
}

export interface ServerConfig extends ConnectionOptions {
  bind: string;
  /** Default "tcp". */
  protocol: Protocol;
  /** Default "weight". */
  balance: BalanceStrategy;
  /**
   * geoswarm extension: after a connect failure, how many other backends to try before the
   * client is closed. Default 2.
   */
  backend_connection_retries: number;
  discovery: DiscoveryConfig;
  healthcheck: HealthcheckConfig;
  access: AccessConfig | null;
  /** PROXY protocol header towards backends; version "1" (text) or "2" (binary). */
  proxy_protocol: { version: "1" | "2" } | null;
  udp: UdpConfig | null;
}

export interface LbConfig {
  logging: LoggingConfig;
  api: ApiConfig;
  metrics: MetricsConfig;
  defaults: ConnectionOptions;
  shutdown: ShutdownConfig;
  state: StateConfig;
  /**
   * geoswarm extension (top-level key): threads that accept on every TCP server's bind
   * (SO_REUSEPORT), sharing election counters. Default 1. More than 1 needs Node >= 22.12.
   */
  workers: number;
  /** geoswarm extension: server providers; `{}` when none is configured. */
  providers: ProvidersConfig;
  servers: Record<string, ServerConfig>;
}

/** One line of the backend grammar: `host:port weight=N priority=N max_connections=N sni=NAME`. */
export interface BackendSpec {
  host: string;
  port: number;
  weight: number;
  priority: number;
  max_connections: number;
  sni: string;
}

/** Where the configuration was read from, as gobetween's `GET /` reports it. */
export type ConfigSource =
  | { kind: "file"; path: string; format: "toml" | "json" }
  | { kind: "url"; url: string; format: "toml" | "json" };

/** A configuration error: names the key path, the value and what is allowed. */
export class ConfigError extends Error {
  constructor(
    /** Each problem as "path: message". */
    readonly problems: string[],
    /** Warnings found alongside the errors (unknown keys...), shown with them. */
    readonly warnings: string[] = [],
  ) {
    super(problems.join("\n"));
    this.name = "ConfigError";
  }
}
