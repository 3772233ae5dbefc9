// The discovery loop shared by every kind: fetch, publish, wait `interval`; on failure apply the
// failpolicy and retry. A failing source is logged once per change of state, not once per poll.
import type { BackendSpec, DiscoveryConfig } from "../config/types";
import type { Logger } from "../log/logger";

/** Fetches the current backend list; rejects on failure. Honours the abort signal. */
export type Fetcher = (signal: AbortSignal) => Promise<BackendSpec[]>;

export interface DiscoveryRunnerOptions {
  fetch: Fetcher;
  /** Pause between successful fetches; 0 = fetch until the first success, then stop. */
  intervalMs: number;
  /** Per-fetch timeout; 0 = none. */
  timeoutMs: number;
  failpolicy: DiscoveryConfig["failpolicy"];
  /** Pause after a failed fetch. */
  retryMs: number;
  onUpdate: (backends: BackendSpec[]) => void;
  log: Logger;
}

export class DiscoveryRunner {
  private timer?: NodeJS.Timeout;
  private abort?: AbortController;
  private stopped = false;
  private failing = false;

  constructor(private readonly opts: DiscoveryRunnerOptions) {}

  start(): void {
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort?.abort();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const { opts } = this;
    this.abort = new AbortController();
    const signal =
      opts.timeoutMs > 0
        ? AbortSignal.any([this.abort.signal, AbortSignal.timeout(opts.timeoutMs)])
        : this.abort.signal;
    let next: number | null;
    try {
      const backends = await opts.fetch(signal);
      if (this.stopped) return;
      if (this.failing) opts.log.info({ backends: backends.length }, "discovery recovered");
      this.failing = false;
      opts.onUpdate(backends);
      next = opts.intervalMs > 0 ? opts.intervalMs : null;
    } catch (err) {
      if (this.stopped) return;
      if (!this.failing) {
        opts.log.warn(
          { err: (err as Error).message, failpolicy: opts.failpolicy },
          "discovery failed",
        );
      }
      this.failing = true;
      if (opts.failpolicy === "setempty") opts.onUpdate([]);
      next = opts.retryMs;
    }
    if (next !== null && !this.stopped) {
      this.timer = setTimeout(() => void this.tick(), next);
      this.timer.unref();
    }
  }
}
