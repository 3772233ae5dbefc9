// "plaintext": GET `plaintext_endpoint`; every trimmed line of the body is matched against
// `plaintext_regex_pattern` (RE2 syntax, run on re2js; default: the backend-line grammar) and its named groups
// host, port, weight, priority, max_connections, sni make a backend. Lines that do not match are
// ignored; lines that match with an unusable port or number are skipped with a warning. Unlike
// gobetween, a non-2xx status is a failed fetch and a bad pattern is a config error, not a panic.
import { compileRe2, DEFAULT_BACKEND_PATTERN, type Re2 } from "../config";
import type { BackendSpec, DiscoveryConfig } from "../config/types";
import type { Logger } from "../log/logger";
import { isRestricted } from "./guard";
import { httpGetOk, targetFromUrl } from "./http";
import { Notes } from "./notes";
import type { Fetcher } from "./runner";

export function plaintextFetcher(cfg: DiscoveryConfig, log: Logger): Fetcher {
  const url = cfg.plaintext_endpoint as string;
  const { target, path } = targetFromUrl(url);
  target.refuseLinkLocal = isRestricted(cfg);
  const pattern = (cfg.plaintext_regex_pattern as string | undefined) ?? DEFAULT_BACKEND_PATTERN;
  let re: Re2;
  try {
    re = compileRe2(pattern);
  } catch (err) {
    throw new Error(`discovery.plaintext_regex_pattern: ${(err as Error).message}`);
  }
  const notes = new Notes(log);
  return async (signal) => {
    const res = await httpGetOk(target, path, signal);
    notes.begin();
    const out: BackendSpec[] = [];
    const lines = res.body.toString("utf8").split("\n");
    for (let n = 0; n < lines.length; n++) {
      const line = lines[n].trim();
      if (line === "") continue;
      const g = re.exec(line);
      if (!g) continue;
      // The line number, never the text: the body may hold secrets (a discovery URL pointed at
      // a metadata service), and logs travel further than the balancer.
      const problem = (field: string, _value: unknown, expected: string): void =>
        notes.note({ line: n + 1, field, expected }, "plaintext discovery: line skipped");
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
