// Reading a configuration: env substitution, TOML/JSON parsing with line/column errors, fetching
// from a file or URL, and the one-screen summary printed by `--check`.
import { readFile } from "node:fs/promises";
import { parse as parseToml, TomlError } from "smol-toml";
import { parseDuration } from "./duration";
import { checkEnvironment } from "./environment";
import { validateConfig } from "./schema";
import { UDP_DEFAULT_IDLE_TIMEOUT } from "./schema/server";
import { ConfigError, type ConfigSource, type LbConfig } from "./types";

/** How long `from-url` waits for the whole response. */
export const URL_TIMEOUT_MS = 10_000;

/** Why a from-url fetch failed: its own timeout, or `other`. */
function fetchFailure(e: Error, other: string): string {
  return e.name === "TimeoutError" ? `no response within ${URL_TIMEOUT_MS / 1000} s` : other;
}

/**
 * Replaces every `${NAME}` with the value of environment variable NAME (unset → ""), like
 * gobetween's `-e/--use-config-env-vars`. `$NAME` without braces is left alone; there is no
 * default-value syntax.
 */
export function substituteEnv(text: string, env: NodeJS.ProcessEnv = process.env): string {
  return text.replace(/\$\{([^}]*)\}/g, (_, name: string) => env[name] ?? "");
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === "\n") {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/**
 * Finds the first JSON syntax error: its offset and a short reason. V8's messages do not
 * always carry a position, so this re-scans the text (only called after JSON.parse failed).
 */
function locateJsonError(text: string): { offset: number; reason: string } {
  let i = 0;
  class Fail {
    constructor(
      readonly offset: number,
      readonly reason: string,
    ) {}
  }
  const fail = (reason: string, at = i): never => {
    throw new Fail(at, reason);
  };
  const ws = (): void => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const describe = (): string => (i >= text.length ? "end of input" : JSON.stringify(text[i]));
  const str = (): void => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const c = text[i];
      if (c === '"') {
        i++;
        return;
      }
      if (c.charCodeAt(0) < 0x20) fail("control character in string (escape it)");
      if (c === "\\") {
        const e = text[i + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail("bad \\u escape");
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else fail("bad escape in string");
      } else i++;
    }
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail(`expected a property name in double quotes, got ${describe()}`);
        str();
        ws();
        if (text[i] !== ":") fail(`expected ':' after a property name, got ${describe()}`);
        i++;
        value();
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return;
        }
        fail(`expected ',' or '}' after a property value, got ${describe()}`);
      }
    }
    if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return;
        }
        fail(`expected ',' or ']' after an array element, got ${describe()}`);
      }
    }
    if (c === '"') {
      str();
      return;
    }
    const lit = /^(true|false|null|-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)/.exec(
      text.slice(i),
    );
    if (lit) {
      i += lit[0].length;
      return;
    }
    fail(`unexpected ${describe()}`);
  };
  try {
    value();
    ws();
    if (i < text.length) fail(`unexpected ${describe()} after the end of the document`);
  } catch (err) {
    if (err instanceof Fail) return { offset: err.offset, reason: err.reason };
    throw err;
  }
  return { offset: 0, reason: "invalid JSON" };
}

/**
 * Parses configuration text (after `${NAME}` substitution when `envSubst`) into a plain object
 * tree, to be validated with validateConfig(). Syntax errors throw ConfigError with one problem
 * naming the line and column.
 */
export function parseConfigText(
  text: string,
  format: "toml" | "json",
  opts: { envSubst: boolean; env?: NodeJS.ProcessEnv },
): unknown {
  const src = opts.envSubst ? substituteEnv(text, opts.env ?? process.env) : text;
  if (format === "json") {
    try {
      return JSON.parse(src);
    } catch {
      const { offset, reason } = locateJsonError(src);
      const { line, column } = lineColumn(src, offset);
      throw new ConfigError([`JSON syntax error at line ${line}, column ${column}: ${reason}`]);
    }
  }
  try {
    return parseToml(src, { unsafeKeyBehaviour: "throw" });
  } catch (err) {
    if (err instanceof TomlError) {
      const reason = err.message.replace(/^Invalid TOML document: /, "").split("\n")[0];
      throw new ConfigError([
        `TOML syntax error at line ${err.line}, column ${err.column}: ${reason}`,
      ]);
    }
    throw new ConfigError([`TOML syntax error: ${(err as Error).message}`]);
  }
}

async function readSource(source: ConfigSource): Promise<string> {
  if (source.kind === "file") {
    try {
      return await readFile(source.path, "utf8");
    } catch (err) {
      throw new ConfigError([
        `config file ${source.path}: cannot read (${(err as Error).message})`,
      ]);
    }
  }
  let res: Response;
  try {
    res = await fetch(source.url, {
      signal: AbortSignal.timeout(URL_TIMEOUT_MS),
      redirect: "follow",
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why = fetchFailure(e, e.cause?.code ?? e.cause?.message ?? e.message);
    throw new ConfigError([`config URL ${source.url}: cannot fetch (${why})`]);
  }
  let body: string;
  try {
    body = await res.text();
  } catch (err) {
    const e = err as Error;
    throw new ConfigError([
      `config URL ${source.url}: cannot read the response (${fetchFailure(e, e.message)})`,
    ]);
  }
  // Stricter than gobetween, which parses whatever body comes back.
  if (!res.ok) {
    throw new ConfigError([
      `config URL ${source.url}: expected a 2xx response, got HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`,
    ]);
  }
  return body;
}

/**
 * Loads, parses and validates the configuration from a file or URL. Throws ConfigError for
 * unreadable sources, syntax errors and invalid configurations.
 */
export async function loadConfig(
  source: ConfigSource,
  opts: { envSubst: boolean },
): Promise<{ config: LbConfig; warnings: string[]; text: string }> {
  const text = await readSource(source);
  const raw = parseConfigText(text, source.format, { envSubst: opts.envSubst });
  const { config, warnings } = validateConfig(raw);
  const env = await checkEnvironment(config);
  if (env.errors.length > 0) throw new ConfigError(env.errors, [...warnings, ...env.warnings]);
  return { config, warnings: [...warnings, ...env.warnings], text };
}

/** The UDP session idle timeout a server runs with, and where it comes from. */
function udpIdle(s: LbConfig["servers"][string]): string {
  const set = (d: string): boolean => parseDuration(d) > 0;
  if (set(s.client_idle_timeout)) return `${s.client_idle_timeout} (client_idle_timeout)`;
  if (set(s.backend_idle_timeout)) return `${s.backend_idle_timeout} (backend_idle_timeout)`;
  return `${UDP_DEFAULT_IDLE_TIMEOUT} (default; set client_idle_timeout to change)`;
}

/** A one-screen description of a validated configuration, for `--check`. Ends with "\n". */
export function summarizeConfig(config: LbConfig): string {
  const lines: string[] = [];
  const { api, metrics } = config;
  const apiExtras = [api.basic_auth ? "basic auth" : "no auth", api.tls ? "https" : "http"];
  if (api.cors) apiExtras.push("cors");
  lines.push(api.enabled ? `api: ${api.bind} (${apiExtras.join(", ")})` : "api: disabled");
  lines.push(metrics.enabled ? `metrics: ${metrics.bind}` : "metrics: disabled");
  const docker = config.providers.docker;
  if (docker) {
    lines.push(
      `providers.docker: ${docker.endpoint}, labels ${docker.label_prefix}*, ports ${docker.port_range} on ${docker.listen_host}`,
    );
  }
  const names = Object.keys(config.servers).sort();
  lines.push(`servers: ${names.length}`);
  const rows = names.map((name) => {
    const s = config.servers[name];
    const d = s.discovery;
    // A backend listed twice is one backend (the table keys backends by host:port).
    const count = new Set((d.static_list ?? []).map((line) => line.trim().split(/\s+/)[0])).size;
    const discovery =
      d.kind === "static" ? `static (${count} backend${count === 1 ? "" : "s"})` : d.kind;
    const access = s.access
      ? `${s.access.default} + ${s.access.rules.length} rule${s.access.rules.length === 1 ? "" : "s"}`
      : "allow all";
    return [
      name,
      s.protocol,
      s.bind,
      `balance=${s.balance}`,
      `discovery=${discovery}`,
      `healthcheck=${s.healthcheck.kind}`,
      `access=${access}`,
      ...(s.protocol === "udp" ? [`udp_idle=${udpIdle(s)}`] : []),
    ];
  });
  const widths = rows.reduce<number[]>(
    (w, row) => row.map((cell, i) => Math.max(w[i] ?? 0, cell.length)),
    [],
  );
  for (const row of rows) {
    lines.push(
      `  ${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join("  ")}`,
    );
  }
  return `${lines.join("\n")}\n`;
}
