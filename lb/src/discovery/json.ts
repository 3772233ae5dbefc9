// "json": GET `json_endpoint`; the body must be a JSON array, and each element gives one backend
// through path patterns (`json_host_pattern` "host", `json_port_pattern` "port", …) in gobetween's
// gojq path syntax: dot-separated keys and [n] array indices, e.g. "address.ip" or "ports[0]".
//   host: a non-empty string; port: a number or numeric string 1-65535 (a missing or invalid host
//   or port fails the whole fetch, as in gobetween, so keeplast protects the pool);
//   weight, priority, max_connections: non-negative numbers (truncated), else the default 1/1/0;
//   sni: a string, else "".
// Unlike gobetween a non-2xx status is a failed fetch (an error page is not a backend list).
import { parseJsonPath, type Step } from "../config/json-path";

export { parseJsonPath };

import type { BackendSpec, DiscoveryConfig } from "../config/types";
import type { Logger } from "../log/logger";
import { isRestricted } from "./guard";
import { httpGetOk, parseJsonBody, targetFromUrl } from "./http";
import { Notes } from "./notes";
import type { Fetcher } from "./runner";

export function evalJsonPath(value: unknown, steps: Step[]): unknown {
  let cur = value;
  for (const step of steps) {
    if (typeof step === "number") {
      if (!Array.isArray(cur)) return undefined;
      cur = cur[step];
    } else {
      if (cur === null || typeof cur !== "object" || Array.isArray(cur)) return undefined;
      // Own keys only: "constructor" or "__proto__" must not reach Object.prototype.
      cur = Object.hasOwn(cur, step) ? (cur as Record<string, unknown>)[step] : undefined;
    }
  }
  return cur;
}

const FIELDS = ["host", "port", "weight", "priority", "sni", "max_connections"] as const;
type Field = (typeof FIELDS)[number];

export function jsonFetcher(cfg: DiscoveryConfig, log: Logger): Fetcher {
  const url = cfg.json_endpoint as string;
  const { target, path } = targetFromUrl(url);
  target.refuseLinkLocal = isRestricted(cfg);
  const paths = {} as Record<Field, { pattern: string; steps: Step[] }>;
  for (const f of FIELDS) {
    const key = `json_${f}_pattern`;
    const pattern = (cfg[key] as string | undefined) ?? f;
    try {
      paths[f] = { pattern, steps: parseJsonPath(pattern) };
    } catch (err) {
      throw new Error(`discovery.${key}: ${(err as Error).message}`);
    }
  }
  const notes = new Notes(log);
  return async (signal) => {
    const res = await httpGetOk(target, path, signal);
    const doc = parseJsonBody(res.body, `json_endpoint ${url}`);
    if (!Array.isArray(doc)) {
      throw new Error(`json_endpoint ${url}: expected a JSON array, got ${kindOf(doc)}`);
    }
    notes.begin();
    const out = doc.map((el, i) => backendFrom(el, i, url, paths, notes));
    notes.end();
    return out;
  };
}

/** A fetched value as errors show it: its type and size, never its text (it may be secret). */
function describeValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (typeof v === "string") return `a string of ${v.length} characters`;
  return kindOf(v);
}

function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

function backendFrom(
  el: unknown,
  i: number,
  url: string,
  paths: Record<Field, { pattern: string; steps: Step[] }>,
  notes: Notes,
): BackendSpec {
  const where = `json_endpoint ${url}: element [${i}]`;
  const get = (f: Field) => evalJsonPath(el, paths[f].steps);
  const host = get("host");
  if (typeof host !== "string" || host === "" || /\s/.test(host)) {
    throw new Error(
      `${where}: json_host_pattern ${JSON.stringify(paths.host.pattern)} gave ${describeValue(host)}, expected a host name or address`,
    );
  }
  const rawPort = get("port");
  const port = typeof rawPort === "string" && /^\d+$/.test(rawPort) ? Number(rawPort) : rawPort;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(
      `${where}: json_port_pattern ${JSON.stringify(paths.port.pattern)} gave ${describeValue(rawPort)}, expected a port 1-65535`,
    );
  }
  const num = (f: "weight" | "priority" | "max_connections", dflt: number): number => {
    const v = get(f);
    if (v === undefined || v === null) return dflt;
    if (typeof v === "number" && Number.isFinite(v) && v >= 0) return Math.trunc(v);
    notes.note(
      {
        element: i,
        field: f,
        got: describeValue(v),
        expected: "a non-negative number",
        used: dflt,
      },
      "json discovery: invalid value replaced by the default",
    );
    return dflt;
  };
  const sni = get("sni");
  return {
    host,
    port,
    weight: num("weight", 1),
    priority: num("priority", 1),
    max_connections: num("max_connections", 0),
    sni: typeof sni === "string" ? sni : "",
  };
}
