import { parseBackendLine } from "../config";
import type { DiscoveryConfig } from "../config/types";
import type { Fetcher } from "./runner";

/** `static_list`: backend lines parsed once; the list never changes. */
export function staticFetcher(cfg: DiscoveryConfig): Fetcher {
  const backends = (cfg.static_list ?? []).map((line) => parseBackendLine(line));
  return async () => backends;
}
