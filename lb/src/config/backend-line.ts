// gobetween's backend-line grammar (reference §1.10.1), used by static_list, exec discovery output
// and (by default) plaintext discovery:
//
//   host:port[ weight=N][ priority=N][ max_connections=N][ sni=NAME]
//
// anchored, options optional but in exactly this order, each preceded by exactly one whitespace
// character; surrounding whitespace is trimmed first. The host is everything before the last
// ":port" that contains no whitespace, so "[::1]:80" keeps its brackets.

import type { BackendSpec } from "./types";

/**
 * gobetween 0.8.2's default pattern in Go RE2 syntax (what plaintext discovery uses when
 * `plaintext_regex_pattern` is not set). Compile it with compileRe2().
 */
export const DEFAULT_BACKEND_PATTERN =
  "^(?P<host>\\S+):(?P<port>\\d+)(\\sweight=(?P<weight>\\d+))?(\\spriority=(?P<priority>\\d+))?(\\smax_connections=(?P<max_connections>\\d+))?(\\ssni=(?P<sni>[^\\s]+))?$";

// RE2's \s: ASCII space, \t, \n, \f, \r (JavaScript's also takes \v and Unicode spaces).
const RE2_SPACE = "\\t\\n\\f\\r ";
const WS = `[${RE2_SPACE}]`;
const NWS = `[^${RE2_SPACE}]`;
const LINE_RE = new RegExp(
  `^(${NWS}+):([0-9]+)(?:${WS}weight=([0-9]+))?(?:${WS}priority=([0-9]+))?` +
    `(?:${WS}max_connections=([0-9]+))?(?:${WS}sni=(${NWS}+))?$`,
);
const ADDRESS_RE = new RegExp(`^${NWS}+:[0-9]+$`);

/** The grammar, as shown in error messages. */
export const BACKEND_LINE_SYNTAX =
  "host:port [weight=N] [priority=N] [max_connections=N] [sni=NAME]";

const OPTIONS = ["weight", "priority", "max_connections", "sni"] as const;

function toInt(digits: string, what: string): number {
  const n = Number(digits);
  if (!Number.isSafeInteger(n)) throw new Error(`${what} ${digits} is too large`);
  return n;
}

/** Explains why a (trimmed) line does not match the grammar. */
function diagnose(line: string): string {
  if (line === "") return "empty line";
  if (new RegExp(`${WS}{2,}`).test(line)) {
    return "options must be separated by exactly one space";
  }
  const tokens = line.split(new RegExp(WS));
  const addr = tokens[0];
  if (!ADDRESS_RE.test(addr)) {
    return `expected host:port first, got ${JSON.stringify(addr)}`;
  }
  let last = -1;
  for (const token of tokens.slice(1)) {
    const eq = token.indexOf("=");
    const key = eq < 0 ? token : token.slice(0, eq);
    const idx = (OPTIONS as readonly string[]).indexOf(key);
    if (eq < 0 || idx < 0) return `unknown option ${JSON.stringify(token)}`;
    const value = token.slice(eq + 1);
    if (key !== "sni" && !/^[0-9]+$/.test(value)) {
      return `${key} must be a non-negative integer, got ${JSON.stringify(value)}`;
    }
    if (key === "sni" && value === "") return "sni must not be empty";
    if (idx === last) return `option ${key} given twice`;
    if (idx < last) {
      return "options must appear in the order weight, priority, max_connections, sni";
    }
    last = idx;
  }
  return `expected ${BACKEND_LINE_SYNTAX}`;
}

/**
 * Parses one backend line. Defaults: weight 1, priority 1, max_connections 0 (unlimited),
 * sni "". Throws an Error whose message is the reason (e.g. `unknown option "weigth=2"`).
 * Stricter than gobetween in one respect: the port must be 1-65535.
 */
export function parseBackendLine(line: string): BackendSpec {
  const trimmed = line.trim();
  const m = LINE_RE.exec(trimmed);
  if (!m) throw new Error(diagnose(trimmed));
  const [, host, portDigits, weight, priority, maxConnections, sni] = m;
  const port = Number(portDigits);
  if (!(port >= 1 && port <= 65535)) throw new Error(`port ${portDigits} is not in 1-65535`);
  return {
    host,
    port,
    weight: weight === undefined ? 1 : toInt(weight, "weight"),
    priority: priority === undefined ? 1 : toInt(priority, "priority"),
    max_connections: maxConnections === undefined ? 0 : toInt(maxConnections, "max_connections"),
    sni: sni ?? "",
  };
}

/**
 * Formats a backend as a line of the grammar; options equal to their defaults are left out, so
 * parseBackendLine(formatBackendLine(b)) deep-equals b.
 */
export function formatBackendLine(spec: BackendSpec): string {
  if (!/^[^\t\n\f\r ]+$/.test(spec.host))
    throw new Error(`invalid host ${JSON.stringify(spec.host)}`);
  if (!(Number.isInteger(spec.port) && spec.port >= 1 && spec.port <= 65535)) {
    throw new Error(`port ${spec.port} is not in 1-65535`);
  }
  for (const key of ["weight", "priority", "max_connections"] as const) {
    if (!(Number.isSafeInteger(spec[key]) && spec[key] >= 0)) {
      throw new Error(`${key} must be a non-negative integer, got ${spec[key]}`);
    }
  }
  if (/[\t\n\f\r ]/.test(spec.sni)) throw new Error(`invalid sni ${JSON.stringify(spec.sni)}`);
  let line = `${spec.host}:${spec.port}`;
  if (spec.weight !== 1) line += ` weight=${spec.weight}`;
  if (spec.priority !== 1) line += ` priority=${spec.priority}`;
  if (spec.max_connections !== 0) line += ` max_connections=${spec.max_connections}`;
  if (spec.sni !== "") line += ` sni=${spec.sni}`;
  return line;
}
