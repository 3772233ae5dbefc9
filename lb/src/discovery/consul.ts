// "consul": the instances of `consul_service_name` from Consul's health endpoint
//   GET /v1/health/service/<name>?tag=<tag>&passing=1&dc=<dc>
// (tag, passing and dc only when configured; `consul_service_datacenter` is read as
// `consul_datacenter` by the validator). ACL token in X-Consul-Token, HTTP basic auth when a user
// name is set (for a proxy in front of Consul), TLS with client certificate and CA when
// `consul_tls_enabled` or the address is https://.
// host = Service.Address, else Node.Address (IPv6 literals in brackets); port = Service.Port;
// sni = the last tag "sni=<value>"; weight 1, priority 1.
//
// Changes arrive through blocking queries (the watcher): the request carries `index` (the last
// X-Consul-Index) and a bounded `wait`; Consul answers when the result changes or the wait ends.
// As Consul's documentation asks, the index is reset when it goes backwards, forced to at least 1,
// and the loop is rate limited. Errors end the watcher; the runner then polls and reconnects.
import { bracketHost, parseConsulHost } from "../config";
import type { BackendSpec, DiscoveryConfig } from "../config/types";
import type { Logger } from "../log/logger";
import { isRestricted } from "./guard";
import { type HttpTarget, httpGetOk, keepAliveAgent, parseJsonBody } from "./http";
import { Notes } from "./notes";
import type { DiscoverySource } from "./runner";

/** `wait` of a blocking query (Consul caps it at 10 min and adds up to wait/16 of jitter). */
export const CONSUL_WAIT_MS = 30_000;
/** Least time between the starts of two blocking queries. */
export const CONSUL_MIN_QUERY_SPACING_MS = 50;

interface ConsulEntry {
  Node?: { Address?: string };
  Service?: { Address?: string; Port?: number; Tags?: string[] | null };
}

export function consulSource(
  cfg: DiscoveryConfig,
  log: Logger,
  requestTimeoutMs: number,
): DiscoverySource {
  const raw = cfg.consul_host as string;
  const hp = parseConsulHost(raw);
  if (!hp) throw new Error(`discovery.consul_host: expected host:port, got ${JSON.stringify(raw)}`);
  const scheme = hp.scheme === "https" || cfg.consul_tls_enabled ? "https:" : "http:";
  const target: HttpTarget = {
    protocol: scheme,
    host: hp.host,
    port: hp.port,
    tls: {
      cert: (cfg.consul_tls_cert_path as string | undefined) || undefined,
      key: (cfg.consul_tls_key_path as string | undefined) || undefined,
      ca: (cfg.consul_tls_cacert_path as string | undefined) || undefined,
    },
    agent: keepAliveAgent(scheme),
    refuseLinkLocal: isRestricted(cfg),
  };
  const name = cfg.consul_service_name as string;
  const params = new URLSearchParams();
  if (cfg.consul_service_tag) params.set("tag", cfg.consul_service_tag as string);
  if (cfg.consul_service_passing_only) params.set("passing", "1");
  if (cfg.consul_datacenter) params.set("dc", cfg.consul_datacenter as string);
  const base = `/v1/health/service/${encodeURIComponent(name)}`;
  const headers: Record<string, string> = {};
  if (cfg.consul_acl_token) headers["X-Consul-Token"] = cfg.consul_acl_token as string;
  if (cfg.consul_auth_username) {
    const cred = `${cfg.consul_auth_username}:${cfg.consul_auth_password ?? ""}`;
    headers.Authorization = `Basic ${Buffer.from(cred).toString("base64")}`;
  }
  const notes = new Notes(log);
  const pathFor = (extra: Record<string, string>): string => {
    const p = new URLSearchParams(params);
    for (const [k, v] of Object.entries(extra)) p.set(k, v);
    const q = p.toString();
    return q ? `${base}?${q}` : base;
  };
  const parse = (body: Buffer): BackendSpec[] => {
    const doc = parseJsonBody(body, `consul ${base}`);
    if (!Array.isArray(doc)) throw new Error(`consul ${base}: expected a JSON array`);
    notes.begin();
    const out: BackendSpec[] = [];
    for (const entry of doc as ConsulEntry[]) {
      const address = entry.Service?.Address || entry.Node?.Address || "";
      const port = entry.Service?.Port;
      if (address === "" || typeof port !== "number" || port < 1 || port > 65535) {
        notes.note(
          { service: name, address, port, expected: "an address and a port 1-65535" },
          "consul discovery: instance skipped",
        );
        continue;
      }
      let sni = "";
      for (const tag of entry.Service?.Tags ?? []) if (tag.startsWith("sni=")) sni = tag.slice(4);
      out.push({
        host: bracketHost(address),
        port,
        weight: 1,
        priority: 1,
        max_connections: 0,
        sni,
      });
    }
    notes.end();
    return out;
  };

  return {
    fetch: async (signal) => parse((await httpGetOk(target, pathFor({}), signal, headers)).body),
    watch: async (ctx) => {
      let index = 0;
      let first = true;
      while (!ctx.signal.aborted) {
        const started = Date.now();
        const signal = AbortSignal.any([
          ctx.signal,
          AbortSignal.timeout(CONSUL_WAIT_MS + CONSUL_WAIT_MS / 16 + requestTimeoutMs),
        ]);
        const extra: Record<string, string> = first
          ? {}
          : { index: String(index), wait: `${CONSUL_WAIT_MS / 1000}s` };
        const res = await httpGetOk(target, pathFor(extra), signal, headers);
        const next = Number(res.headers["x-consul-index"]);
        const backends = parse(res.body);
        if (first) ctx.connected(false);
        if (first || !(next === index)) ctx.publish(backends);
        first = false;
        if (!Number.isFinite(next) || next < 1) index = 1;
        else if (next < index) index = 0;
        else index = next;
        const spent = Date.now() - started;
        if (spent < CONSUL_MIN_QUERY_SPACING_MS) {
          await new Promise((r) => setTimeout(r, CONSUL_MIN_QUERY_SPACING_MS - spent));
        }
      }
    },
    close: () => target.agent?.destroy(),
  };
}
