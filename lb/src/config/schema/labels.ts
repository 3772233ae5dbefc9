// Container and service labels of the docker-labels provider (geoswarm extension), read with the
// config file's own validators: the labels become a raw server table that readServer checks, and
// each problem's key path is mapped back to the label that caused it, so a refusal reads
// `geoswarm.lb.balance: expected one of "weight", …, got "fastest"`.
//
//   <prefix>port                   required: the balancer's listen port (inside port_range)
//   <prefix>protocol               "tcp" (default) or "udp"
//   <prefix>target                 the container's private port (required when it exposes several)
//   <prefix>balance                a strategy, as `balance` in a server (default "weight")
//   <prefix>healthcheck            "ping" or "none" (default none)
//   <prefix>healthcheck.interval   Go duration > 0, default "5s" (with healthcheck=ping)
//   <prefix>healthcheck.timeout    Go duration, default "0" (none)
//   <prefix>healthcheck.fails      consecutive failures to mark down, default 1
//   <prefix>healthcheck.passes     consecutive passes to mark up, default 1
//   <prefix>max_connections        integer >= 0 (0 = unlimited, default [defaults])
//   <prefix>proxy_protocol         "1" or "2" (PROXY protocol header version; tcp only)
//   <prefix>access                 comma list: "allow 10.0.0.0/8,deny all" (first match wins;
//                                  a final "allow all" / "deny all" is the default)
//   <prefix>weight                 this container's weight, integer >= 1 (default 1)

import type { ConnectionOptions, Protocol, ServerConfig } from "../types";
import { Report } from "./section";
import { readServer } from "./server";

export const LABEL_KEYS = [
  "port",
  "protocol",
  "target",
  "balance",
  "healthcheck",
  "healthcheck.interval",
  "healthcheck.timeout",
  "healthcheck.fails",
  "healthcheck.passes",
  "max_connections",
  "proxy_protocol",
  "access",
  "weight",
] as const;

/** A label that cannot be used: its full key, its value and why. */
export interface LabelProblem {
  label: string;
  value: string;
  problem: string;
}

export interface LabelRequest {
  port: number;
  protocol: Protocol;
  /** The container's private port, when the labels name it. */
  target?: number;
  weight: number;
  /** The server these labels ask for; its discovery is an empty static list. */
  server: ServerConfig;
}

export interface LabelOptions {
  prefix: string;
  listenHost: string;
  portRange: { first: number; last: number };
  defaults: ConnectionOptions;
}

/** Whether any label starts with the prefix (a container the provider looks at). */
export function hasLabels(labels: Record<string, string> | null | undefined, prefix: string) {
  return Object.keys(labels ?? {}).some((k) => k.startsWith(prefix));
}

const INTEGER = /^-?[0-9]+$/;

/** Integers as numbers, so the config's integer checks apply; anything else stays a string. */
function num(v: string): number | string {
  return INTEGER.test(v.trim()) ? Number(v.trim()) : v;
}

/**
 * Reads the labels under `prefix`; returns the request, or every problem (never throws).
 * `labels` are all the container's (or service's) labels; others are ignored.
 */
export function parseLabels(
  labels: Record<string, string>,
  opts: LabelOptions,
):
  | { request: LabelRequest; problems?: undefined }
  | { request?: undefined; problems: LabelProblem[] } {
  const { prefix } = opts;
  const own = new Map<string, string>();
  for (const [k, v] of Object.entries(labels))
    if (k.startsWith(prefix)) own.set(k.slice(prefix.length), v);
  const problems: LabelProblem[] = [];
  const fail = (key: string, problem: string): void => {
    problems.push({ label: prefix + key, value: own.get(key) ?? "", problem });
  };
  for (const key of own.keys()) {
    if (!(LABEL_KEYS as readonly string[]).includes(key)) {
      fail(key, `unknown label (expected one of ${LABEL_KEYS.map((k) => prefix + k).join(", ")})`);
    }
  }

  const intLabel = (key: string, min: number, max: number): number | undefined => {
    const v = own.get(key);
    if (v === undefined) return undefined;
    const n = num(v);
    if (typeof n !== "number" || n < min || n > max) {
      fail(
        key,
        `${max >= Number.MAX_SAFE_INTEGER ? `expected an integer >= ${min}` : `expected an integer ${min}-${max}`}, got ${JSON.stringify(v)}`,
      );
      return undefined;
    }
    return n;
  };

  let port: number | undefined;
  if (!own.has("port")) {
    problems.push({
      label: `${prefix}port`,
      value: "",
      problem: "required (the balancer's listen port)",
    });
  } else {
    port = intLabel("port", 1, 65535);
    const { first, last } = opts.portRange;
    if (port !== undefined && (port < first || port > last)) {
      fail(
        "port",
        `expected a port in the allowed range ${first}-${last} (providers.docker.port_range), got ${port}`,
      );
      port = undefined;
    }
  }
  const target = intLabel("target", 1, 65535);
  const weight = intLabel("weight", 1, Number.MAX_SAFE_INTEGER) ?? 1;

  // The server table, as a config file would write it.
  const raw: Record<string, unknown> = {
    bind: `${opts.listenHost.includes(":") && !opts.listenHost.startsWith("[") ? `[${opts.listenHost}]` : opts.listenHost}:${port ?? 1}`,
    discovery: { kind: "static", static_list: ["127.0.0.1:1"] },
  };
  for (const key of ["protocol", "balance"]) if (own.has(key)) raw[key] = own.get(key);
  if (own.has("max_connections")) raw.max_connections = num(own.get("max_connections") as string);
  const hcKeys = ["interval", "timeout", "fails", "passes"] as const;
  const kind = own.get("healthcheck");
  if (kind !== undefined) {
    if (kind !== "ping" && kind !== "none") {
      fail(
        "healthcheck",
        `expected "ping" or "none" (other kinds are not available from labels), got ${JSON.stringify(kind)}`,
      );
    } else if (kind === "ping") {
      const hc: Record<string, unknown> = {
        kind,
        interval: own.get("healthcheck.interval") ?? "5s",
      };
      for (const k of hcKeys.slice(1)) {
        const v = own.get(`healthcheck.${k}`);
        if (v !== undefined) hc[k] = k === "timeout" ? v : num(v);
      }
      raw.healthcheck = hc;
    }
  }
  if (kind !== "ping") {
    for (const k of hcKeys) {
      if (own.has(`healthcheck.${k}`))
        fail(`healthcheck.${k}`, `only used with ${prefix}healthcheck=ping`);
    }
  }
  const pp = own.get("proxy_protocol");
  if (pp !== undefined && pp !== "" && pp !== "none") raw.proxy_protocol = { version: pp };
  const access = own.get("access");
  if (access !== undefined) {
    const items = access
      .split(",")
      .map((r) => r.trim())
      .filter((r) => r !== "");
    const rules: string[] = [];
    let def: string | undefined;
    items.forEach((item, i) => {
      const m = /^(allow|deny)\s+all$/.exec(item);
      if (m && i === items.length - 1) def = m[1];
      else if (m)
        fail(
          "access",
          `expected "${item}" only as the last rule (rules after it never match), got ${JSON.stringify(access)}`,
        );
      else rules.push(item.replace(/\s+/g, " "));
    });
    raw.access = { ...(def ? { default: def } : {}), rules };
  }

  const report = new Report();
  const PATH = "\u0000";
  const server = readServer(report, "labels", raw, opts.defaults, PATH);
  for (const error of report.errors) {
    const colon = error.indexOf(": ");
    const path = error.slice(0, colon).replace(`${PATH}.`, "");
    const message = error.slice(colon + 2);
    const key = labelOf(path);
    fail(key, key === "access" ? `${message} (in ${JSON.stringify(access)})` : message);
  }
  if (problems.length > 0 || !server || port === undefined) return { problems };
  server.discovery = {
    kind: "static",
    static_list: [],
    failpolicy: "keeplast",
    interval: "0",
    timeout: "0",
  };
  return { request: { port, protocol: server.protocol, target, weight, server } };
}

/** The label a key path of the server table came from. */
function labelOf(path: string): string {
  if (path === "bind") return "port";
  if (path === "healthcheck.kind") return "healthcheck";
  if (path.startsWith("access")) return "access";
  if (path.startsWith("proxy_protocol")) return "proxy_protocol";
  return path;
}
