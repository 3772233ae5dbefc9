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

import { isLoopbackHost, isWildcardHost, parseHostPort } from "../address";
import {
  ConfigError,
  type ConnectionOptions,
  type LbConfig,
  type Protocol,
  type ServerConfig,
} from "../types";
import { MAX_WORKERS } from "../workers";
import { readProviders } from "./providers";
import { isTable, Report, Section, show } from "./section";
import {
  readApi,
  readDefaults,
  readLogging,
  readMetrics,
  readShutdown,
  readState,
} from "./sections";
import { readServer } from "./server";

export {
  hasLabels,
  LABEL_KEYS,
  type LabelOptions,
  type LabelProblem,
  type LabelRequest,
  parseLabels,
} from "./labels";
export {
  DEFAULT_LABEL_PREFIX,
  parsePortRange,
  validateDockerProvider,
} from "./providers";
export { serverNameProblem, UDP_DEFAULT_IDLE_TIMEOUT } from "./server";

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
  const a1 = ha.host.toLowerCase();
  const b1 = hb.host.toLowerCase();
  // "localhost" resolves to 127.0.0.1 and ::1, so it shares a port with either.
  const localhostPair =
    (a1 === "localhost" && isLoopbackHost(b1)) || (b1 === "localhost" && isLoopbackHost(a1));
  return a1 === b1 || localhostPair || isWildcardHost(ha.host) || isWildcardHost(hb.host);
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
  const workers = root.int("workers", 1, MAX_WORKERS, 1);
  const providers = readProviders(root.table("providers"));

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
  if (report.errors.length > 0) throw new ConfigError(report.errors, report.warnings);
  return {
    config: { logging, api, metrics, defaults, shutdown, state, workers, providers, servers },
    warnings: report.warnings,
  };
}
