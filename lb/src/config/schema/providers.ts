// [providers.docker] (geoswarm extension): where the docker-labels provider finds containers and
// which listen ports its labels may take. The section absent = the provider is off.

import { isIpLiteral, isWildcardHost, unbracketHost } from "../address";
import { ConfigError, type DockerProviderConfig, type ProvidersConfig } from "../types";
import { zDockerEndpoint } from "./discovery";
import { durationOrNull, isTable, Report, Section, show } from "./section";

export const DEFAULT_LABEL_PREFIX = "geoswarm.lb.";
export const DEFAULT_DRAIN_GRACE = "30s";
export const DEFAULT_RESYNC_INTERVAL = "1m";

const ENDPOINT_EXPECTED =
  'expected "unix:///path/to/docker.sock", "tcp://host[:port]", "http://host[:port]" or "https://host[:port]"';
const RANGE_EXPECTED =
  'expected "first-last" with ports 1-65535 and first <= last, such as "20000-20999"';

/** "20000-20999" (inclusive) or "20080" → the bounds, or null when malformed. */
export function parsePortRange(text: string): { first: number; last: number } | null {
  const m = /^\s*([0-9]{1,5})\s*(?:-\s*([0-9]{1,5})\s*)?$/.exec(text);
  if (!m) return null;
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  if (first < 1 || last > 65535 || first > last) return null;
  return { first, last };
}

/** A "first-last" key in its normal form, or undefined when absent or invalid (reported). */
function readRange(s: Section, key: string): string | undefined {
  if (!s.has(key)) return undefined;
  const raw = s.get(key);
  const range = typeof raw === "string" ? parsePortRange(raw) : null;
  if (!range) {
    s.invalid(key, RANGE_EXPECTED, raw);
    return undefined;
  }
  return range.first === range.last ? `${range.first}` : `${range.first}-${range.last}`;
}

/** Label prefixes as Docker label keys allow them: no spaces, no "=", ending in "." or "-" or "/". */
const PREFIX = /^[A-Za-z0-9][A-Za-z0-9._/-]*[./-]$/;

function readDockerProvider(s: Section): DockerProviderConfig | undefined {
  const errorsBefore = s.report.errors.length;
  if (!s.has("endpoint")) {
    s.required(
      "endpoint",
      '"unix:///var/run/docker.sock", "tcp://host:port" or "http(s)://host:port"',
    );
  }
  const endpoint = s.read("endpoint", zDockerEndpoint, ENDPOINT_EXPECTED);
  const tls_enabled = s.bool("tls_enabled", false);
  const cert = s.str("tls_cert_path");
  const key = s.str("tls_key_path");
  const ca = s.str("tls_cacert_path");
  if (cert !== undefined && key === undefined)
    s.required("tls_key_path", "tls_cert_path and tls_key_path go together");
  if (key !== undefined && cert === undefined)
    s.required("tls_cert_path", "tls_cert_path and tls_key_path go together");
  const label_prefix = s.str("label_prefix", DEFAULT_LABEL_PREFIX);
  if (!PREFIX.test(label_prefix)) {
    s.invalid(
      "label_prefix",
      'expected a label key prefix ending in ".", "-" or "/", such as "geoswarm.lb."',
      label_prefix,
    );
  }
  const listen_host = s.str("listen_host", "0.0.0.0");
  const host = unbracketHost(listen_host);
  if (!isIpLiteral(host) && !isWildcardHost(listen_host) && host !== "localhost") {
    s.invalid(
      "listen_host",
      'expected an IP address such as "0.0.0.0", "::" or "10.0.0.5"',
      listen_host,
    );
  }
  if (!s.has("port_range")) {
    s.required("port_range", 'the listen ports labels may ask for, such as "20000-20999"');
  }
  const port_range = readRange(s, "port_range") ?? "";
  const drain_grace = s.duration("drain_grace", DEFAULT_DRAIN_GRACE);
  const resync_interval = s.duration("resync_interval", DEFAULT_RESYNC_INTERVAL);
  if (durationOrNull(resync_interval) === 0n) {
    s.invalid("resync_interval", 'expected a duration > 0 such as "1m"', resync_interval);
  }
  const container_filter = s.str("container_filter", "");
  const backend_port_range = readRange(s, "backend_port_range");
  s.finish();
  if (s.report.errors.length !== errorsBefore || endpoint === undefined) return undefined;
  return {
    endpoint,
    tls_enabled,
    ...(cert !== undefined ? { tls_cert_path: cert } : {}),
    ...(key !== undefined ? { tls_key_path: key } : {}),
    ...(ca !== undefined ? { tls_cacert_path: ca } : {}),
    label_prefix,
    listen_host,
    port_range,
    drain_grace,
    resync_interval,
    container_filter,
    ...(backend_port_range !== undefined ? { backend_port_range } : {}),
  };
}

export function readProviders(s: Section | undefined): ProvidersConfig {
  const out: ProvidersConfig = {};
  if (!s) return out;
  const docker = s.table("docker");
  if (docker) {
    const cfg = readDockerProvider(docker);
    if (cfg) out.docker = cfg;
  }
  s.finish();
  return out;
}

/**
 * Validates a `[providers.docker]` table on its own (for the components that render it): the
 * section with every default filled. Throws ConfigError naming each key as
 * `providers.docker.<key>`.
 */
export function validateDockerProvider(raw: unknown): {
  provider: DockerProviderConfig;
  warnings: string[];
} {
  if (!isTable(raw)) {
    throw new ConfigError([`providers.docker: expected a table (object), got ${show(raw)}`]);
  }
  const report = new Report();
  const provider = readDockerProvider(new Section(report, "providers.docker", raw));
  if (!provider || report.errors.length > 0) throw new ConfigError(report.errors, report.warnings);
  return { provider, warnings: report.warnings };
}
