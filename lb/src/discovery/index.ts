// Discovery kinds by name. Each kind turns its config keys into a Fetcher or a DiscoverySource
// (a fetcher plus an optional change watcher); the runner does the scheduling, timeouts, watching
// and failpolicy.
//
// Defaults applied when `interval` / `timeout` are "0" (the validator's default):
//
// | kind      | interval "0" →                                | timeout "0" →                   |
// |-----------|-----------------------------------------------|---------------------------------|
// | static    | fetched once (the list never changes)         | none                            |
// | exec      | 5s                                            | 3s (the command is killed)      |
// | json      | 5s                                            | 5s                              |
// | plaintext | 5s                                            | 5s                              |
// | srv       | 5s                                            | 5s (whole lookup, A/AAAA incl.) |
// | docker    | 10s full resync; events push changes at once; | 5s per fetch                    |
// |           | 1s polling while events are down, and for     |                                 |
// |           | swarm-mode tasks                              |                                 |
// | consul    | 10s full resync; blocking queries (wait 30s)  | 5s per fetch (blocking queries: |
// |           | push changes at once                          | wait + wait/16 + 5s)            |
//
// gobetween treats interval "0" as "fetch once, never refresh" for every kind (its per-kind
// timeouts are dead code, §8 of the reference): a discovered pool then silently freezes. Here a
// dynamic kind with interval "0" refreshes at its default, and a warning says so at start.
// An explicit interval or timeout is used as given (docker and consul still push changes between
// resyncs). After a failed fetch the next attempt comes after DISCOVERY_RETRY_MS (gobetween: 2 s).
import { parseDuration } from "../config";
import type { BackendSpec, DiscoveryConfig } from "../config/types";
import type { Logger } from "../log/logger";
import { consulSource } from "./consul";
import { DOCKER_POLL_MS, dockerSource } from "./docker";
import { execFetcher } from "./exec";
import { jsonFetcher } from "./json";
import { plaintextFetcher } from "./plaintext";
import { DiscoveryRunner, type DiscoverySource, type Fetcher } from "./runner";
import { srvFetcher } from "./srv";
import { staticFetcher } from "./static";

export type FetcherFactory = (
  cfg: DiscoveryConfig,
  log: Logger,
  timing: DiscoveryTiming,
) => Fetcher | DiscoverySource;

export interface DiscoveryTiming {
  intervalMs: number;
  timeoutMs: number;
}

interface KindDefaults {
  /** Applied for interval "0"; 0 = fetch once. */
  intervalMs: number;
  /** Applied for timeout "0"; 0 = none. */
  timeoutMs: number;
  /** Poll period while the kind's watcher is down. */
  watchDownPollMs?: number;
}

export const DISCOVERY_DEFAULTS: Record<DiscoveryConfig["kind"], KindDefaults> = {
  static: { intervalMs: 0, timeoutMs: 0 },
  exec: { intervalMs: 5000, timeoutMs: 3000 },
  json: { intervalMs: 5000, timeoutMs: 5000 },
  plaintext: { intervalMs: 5000, timeoutMs: 5000 },
  srv: { intervalMs: 5000, timeoutMs: 5000 },
  docker: { intervalMs: 10_000, timeoutMs: 5000, watchDownPollMs: DOCKER_POLL_MS },
  consul: { intervalMs: 10_000, timeoutMs: 5000, watchDownPollMs: 2000 },
};

const FACTORIES: Record<DiscoveryConfig["kind"], FetcherFactory> = {
  static: staticFetcher,
  exec: execFetcher,
  json: jsonFetcher,
  plaintext: plaintextFetcher,
  srv: srvFetcher,
  docker: dockerSource,
  consul: (cfg, log, timing) => consulSource(cfg, log, timing.timeoutMs),
};

/** Pause after a failed fetch (gobetween: fixed 2 s). */
export const DISCOVERY_RETRY_MS = 2000;

/** Names of the kinds this build can run. */
export function supportedDiscoveryKinds(): string[] {
  return Object.keys(FACTORIES);
}

/** The interval and timeout a discovery config runs with, defaults applied. */
export function discoveryTiming(cfg: DiscoveryConfig): DiscoveryTiming {
  const d = DISCOVERY_DEFAULTS[cfg.kind];
  const interval = parseDuration(cfg.interval);
  const timeout = parseDuration(cfg.timeout);
  return {
    intervalMs: interval > 0 ? interval : d.intervalMs,
    timeoutMs: timeout > 0 ? timeout : d.timeoutMs,
  };
}

export function createDiscovery(
  cfg: DiscoveryConfig,
  onUpdate: (backends: BackendSpec[]) => void,
  log: Logger,
): DiscoveryRunner {
  const factory = FACTORIES[cfg.kind];
  if (!factory) {
    throw new Error(
      `discovery.kind: "${cfg.kind}" is not available in this build (available: ${supportedDiscoveryKinds().join(", ")})`,
    );
  }
  const defaults = DISCOVERY_DEFAULTS[cfg.kind];
  const timing = discoveryTiming(cfg);
  if (parseDuration(cfg.interval) === 0 && defaults.intervalMs > 0) {
    log.warn(
      { kind: cfg.kind, interval: `${timing.intervalMs}ms` },
      'discovery.interval is "0": refreshing at the kind\'s default (gobetween would fetch once and never refresh)',
    );
  }
  return new DiscoveryRunner({
    fetch: factory(cfg, log, timing),
    intervalMs: timing.intervalMs,
    timeoutMs: timing.timeoutMs,
    failpolicy: cfg.failpolicy,
    retryMs: DISCOVERY_RETRY_MS,
    watchDownPollMs: defaults.watchDownPollMs
      ? Math.min(defaults.watchDownPollMs, timing.intervalMs)
      : undefined,
    onUpdate,
    log,
  });
}
