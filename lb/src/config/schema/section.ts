// The machinery of the validator: a Report collecting problems and warnings, a Section reading
// one table of the raw config through typed readers (each problem worded as
// `<key path>: <what is allowed>, got <value as JSON>`), and the value checks shared by the
// section readers.
//
// JSON `null` and the empty string mean "not set" (gobetween decodes both to Go's zero value,
// and the REST API returns `null` for absent sections).

import { z } from "zod";
import { parseHostPort } from "../address";
import { parseDurationNs } from "../duration";
import { compileRe2 } from "../re2";

type Raw = Record<string, unknown>;

const DURATION_EXAMPLES = 'such as "500ms", "10s", "1h30m" or "0"';
const DURATION_EXPECTED = `expected a Go duration ${DURATION_EXAMPLES}`;
/** 2^31 - 1 ms: the longest delay setTimeout() accepts. */
const MAX_DURATION_NS = 2_147_483_647n * 1_000_000n;
const MAX_DURATION = "596h31m23.647s";
const BIND_EXPECTED =
  'expected host:port with a port 0-65535 (IPv6 hosts in brackets such as "[::1]:80", empty host = all addresses)';

export function durationOrNull(s: string): bigint | null {
  try {
    return parseDurationNs(s);
  } catch {
    return null;
  }
}

export const zString = z.string();
const zBool = z.boolean();
export const zStringList = z.array(z.string());
const zDuration = z.string().refine((s) => durationOrNull(s) !== null);
const zBind = z.string().refine((s) => parseHostPort(s, true) !== null);
export const zHostPort = z.string().refine((s) => parseHostPort(s) !== null);
const zInt = (min: number, max: number) => z.number().int().min(min).max(max);

function intExpected(min: number, max: number): string {
  return max >= Number.MAX_SAFE_INTEGER
    ? `expected an integer >= ${min}`
    : `expected an integer ${min}-${max}`;
}

export function oneOf(values: readonly string[]): string {
  return `expected one of ${values.map((v) => JSON.stringify(v)).join(", ")}`;
}

/** A value as JSON for messages (TOML dates as their text, non-finite numbers as themselves). */
export function show(v: unknown): string {
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  if (typeof v === "bigint") return v.toString();
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

export function isTable(v: unknown): v is Raw {
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

export class Report {
  readonly errors: string[] = [];
  readonly warnings: string[] = [];
}

/** One table of the config being read: typed readers that record problems and used keys. */
export class Section {
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

  /**
   * A non-negative Go duration string of at most MAX_DURATION, kept as written. Every duration
   * ends up in a Node.js timer, and a longer one would fire after 1 ms (TimeoutOverflowWarning).
   */
  duration(key: string, def: string): string;
  duration(key: string): string | undefined;
  duration(key: string, def?: string): string | undefined {
    const s = this.read(key, zDuration, DURATION_EXPECTED);
    if (s === undefined) return def;
    const ns = durationOrNull(s) as bigint;
    if (ns < 0n) {
      this.invalid(key, "expected a non-negative Go duration", s);
      return def;
    }
    if (ns > MAX_DURATION_NS) {
      this.invalid(
        key,
        `expected a Go duration of at most "${MAX_DURATION}" (the longest Node.js timer)`,
        s,
      );
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

export function readBind(s: Section, key: string, def: string): string {
  return s.read(key, zBind, BIND_EXPECTED) ?? def;
}

export function keyOwner(keys: Record<string, readonly string[]>, key: string): string | undefined {
  for (const [kind, list] of Object.entries(keys)) if (list.includes(key)) return kind;
  return undefined;
}

/** Why a Go regexp does not compile or lacks required named groups, or undefined. */
export function regexpProblem(pattern: string, groups: string[] = []): string | undefined {
  try {
    const names = compileRe2(pattern).groupNames;
    const missing = groups.filter((g) => !names.includes(g));
    if (missing.length > 0)
      return `missing named group ${missing.map((g) => `(?P<${g}>…)`).join(", ")}`;
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
