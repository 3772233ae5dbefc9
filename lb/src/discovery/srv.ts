// "srv": SRV records of `srv_lookup_pattern` from the DNS server `srv_lookup_server`, over
// `srv_dns_protocol` udp (default) or tcp. Each SRV record is a backend: host = the target's
// address (A/AAAA records of the additional section, else one A then one AAAA query to the same
// server; IPv6 in brackets), port = SRV port, weight = SRV weight, priority = SRV priority,
// sni = the target name without its trailing dot. An empty answer (NOERROR or NXDOMAIN) is an
// empty pool, as in gobetween; SERVFAIL, REFUSED and the like are failed fetches. Targets without
// an address are skipped with a warning.
import { parseHostPort } from "../config";
import type { BackendSpec, DiscoveryConfig } from "../config/types";
import type { Logger } from "../log/logger";
import { type DnsProtocol, type DnsReply, type DnsServer, dnsQuery } from "./dns";
import { Notes } from "./notes";
import type { Fetcher } from "./runner";

interface Srv {
  name: string;
  data: { target: string; port: number; weight?: number; priority?: number };
}

function addressesIn(reply: DnsReply, section: "answers" | "additionals", name: string): string[] {
  const want = name.replace(/\.$/, "").toLowerCase();
  const out: string[] = [];
  for (const r of reply[section] ?? []) {
    if ((r.type === "A" || r.type === "AAAA") && r.name.toLowerCase() === want) {
      out.push(r.type === "AAAA" ? `[${r.data}]` : (r.data as string));
    }
  }
  return out;
}

function checkRcode(reply: DnsReply, what: string): void {
  const rcode = reply.rcode ?? "NOERROR";
  if (rcode !== "NOERROR" && rcode !== "NXDOMAIN") throw new Error(`${what}: ${rcode}`);
}

export function srvFetcher(cfg: DiscoveryConfig, log: Logger): Fetcher {
  const hp = parseHostPort(cfg.srv_lookup_server as string);
  if (!hp) throw new Error(`discovery.srv_lookup_server: expected host:port`);
  const server: DnsServer = { host: hp.host, port: hp.port };
  const protocol = ((cfg.srv_dns_protocol as string | undefined) ?? "udp") as DnsProtocol;
  const name = cfg.srv_lookup_pattern as string;
  const notes = new Notes(log);
  return async (signal) => {
    const reply = await dnsQuery(server, protocol, name, "SRV", signal);
    checkRcode(reply, `SRV ${name} from ${server.host}:${server.port}`);
    const records = (reply.answers ?? []).filter((r) => r.type === "SRV") as unknown as Srv[];
    notes.begin();
    const out: BackendSpec[] = [];
    for (const r of records) {
      const target = r.data.target.replace(/\.$/, "");
      let hosts = addressesIn(reply, "additionals", target);
      if (hosts.length === 0) {
        for (const type of ["A", "AAAA"] as const) {
          const a = await dnsQuery(server, protocol, target, type, signal);
          checkRcode(a, `${type} ${target} from ${server.host}:${server.port}`);
          hosts = addressesIn(a, "answers", target);
          if (hosts.length > 0) break;
        }
      }
      if (hosts.length === 0) {
        notes.note({ srv: name, target }, "srv discovery: target has no address; skipped");
        continue;
      }
      out.push({
        host: hosts[0],
        port: r.data.port,
        weight: r.data.weight ?? 0,
        priority: r.data.priority ?? 0,
        max_connections: 0,
        sni: target,
      });
    }
    notes.end();
    return out;
  };
}
