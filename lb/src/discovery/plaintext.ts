// "plaintext": GET `plaintext_endpoint`; every trimmed line of the body is matched against
// `plaintext_regex_pattern` (Go RE2 syntax; default: the backend-line grammar) and its named groups
// host, port, weight, priority, max_connections, sni make a backend. Lines that do not match are
// ignored; lines that match with an unusable port or number are skipped with a warning. Unlike
// gobetween, a non-2xx status is a failed fetch and a bad pattern is a config error, not a panic.
import { compileGoRegexp, DEFAULT_BACKEND_PATTERN } from "../config";
import type { BackendSpec, DiscoveryConfig } from "../config/types";
import type { Logger } from "../log/logger";
import { httpGetOk, targetFromUrl } from "./http";
import { Notes } from "./notes";
import type { Fetcher } from "./runner";

export function plaintextFetcher(cfg: DiscoveryConfig, log: Logger): Fetcher {
  const url = cfg.plaintext_endpoint as string;
  const { target, path } = targetFromUrl(url);
  const pattern = (cfg.plaintext_regex_pattern as string | undefined) ?? DEFAULT_BACKEND_PATTERN;
  let re: RegExp;
  try {
    re = compileGoRegexp(pattern);
  } catch (err) {
    throw new Error(`discovery.plaintext_regex_pattern: ${(err as Error).message}`);
  }
  const notes = new Notes(log);
  return async (signal) => {
    const res = await httpGetOk(target, path, signal);
    notes.begin();
    const out: BackendSpec[] = [];
    for (const raw of res.body.toString("utf8").split("\n")) {
      const line = raw.trim();
      if (line === "") continue;
      const g = re.exec(line)?.groups;
      if (!g) continue;
      const problem = (field: string, value: unknown, expected: string): void =>
        notes.note({ line, field, value, expected }, "plaintext discovery: line skipped");
      const port = Number(g.port);
      if (!/^\d+$/.test(g.port ?? "") || port < 1 || port > 65535) {
        problem("port", g.port, "a port 1-65535");
        continue;
      }
      if (!g.host) {
        problem("host", g.host, "a host name or address");
        continue;
      }
      const num = (name: string, dflt: number): number | undefined => {
        const v = g[name];
        if (v === undefined || v === "") return dflt;
        if (/^\d+$/.test(v) && Number.isSafeInteger(Number(v))) return Number(v);
        problem(name, v, "a non-negative integer");
        return undefined;
      };
      const weight = num("weight", 1);
      const priority = num("priority", 1);
      const maxConnections = num("max_connections", 0);
      if (weight === undefined || priority === undefined || maxConnections === undefined) continue;
      out.push({
        host: g.host,
        port,
        weight,
        priority,
        max_connections: maxConnections,
        sni: g.sni ?? "",
      });
    }
    notes.end();
    return out;
  };
}
