// Discovery kinds by name. Each kind turns its config keys into a Fetcher; the runner does the
// scheduling, timeouts and failpolicy.
import { parseDuration } from "../config";
import type { DiscoveryConfig } from "../config/types";
import type { Logger } from "../log/logger";
import { DiscoveryRunner, type Fetcher } from "./runner";
import { staticFetcher } from "./static";

export type FetcherFactory = (cfg: DiscoveryConfig) => Fetcher;

const FACTORIES: Partial<Record<DiscoveryConfig["kind"], FetcherFactory>> = {
  static: staticFetcher,
};

/** Pause after a failed fetch (gobetween: fixed 2 s). */
export const DISCOVERY_RETRY_MS = 2000;

/** Names of the kinds this build can run. */
export function supportedDiscoveryKinds(): string[] {
  return Object.keys(FACTORIES);
}

export function createDiscovery(
  cfg: DiscoveryConfig,
  onUpdate: (backends: import("../config/types").BackendSpec[]) => void,
  log: Logger,
): DiscoveryRunner {
  const factory = FACTORIES[cfg.kind];
  if (!factory) {
    throw new Error(
      `discovery.kind: "${cfg.kind}" is not available in this build (available: ${supportedDiscoveryKinds().join(", ")})`,
    );
  }
  return new DiscoveryRunner({
    fetch: factory(cfg),
    intervalMs: parseDuration(cfg.interval),
    timeoutMs: parseDuration(cfg.timeout),
    failpolicy: cfg.failpolicy,
    retryMs: DISCOVERY_RETRY_MS,
    onUpdate,
    log,
  });
}
