// The discovery loop shared by every kind.
//
// Pull: fetch the full list, publish it, wait `interval`, repeat; on failure apply the failpolicy
// and retry after `retryMs`.
// Push (optional, per kind): a watcher follows the source's change stream (Docker events, Consul
// blocking queries) for the whole life of the runner. It either asks for an immediate full fetch
// (`refresh()`, coalesced: events arriving while a fetch is in flight cause exactly one more
// fetch) or publishes a complete list itself (`publish()`). When the stream ends or fails it is
// reconnected with exponential backoff, and while it is down the runner polls every
// `watchDownPollMs` instead of `interval`, so changes still arrive quickly.
//
// A failing fetch or a failing watch is logged once per change of state, not once per attempt.
import type { BackendSpec, DiscoveryConfig } from "../config/types";
import type { Logger } from "../log/logger";

/**
 * Fetches the current backend list (or, for a provider, its whole snapshot: `T`); rejects on
 * failure. Honours the abort signal.
 */
export type Fetcher<T = BackendSpec[]> = (signal: AbortSignal) => Promise<T>;

export interface WatchContext<T = BackendSpec[]> {
  /** Aborted when the runner stops. */
  signal: AbortSignal;
  /** The source changed: run a full fetch now. */
  refresh(): void;
  /** A complete, current list obtained by the watcher itself. */
  publish(backends: T): void;
  /**
   * The stream is established: logs recovery, resets the reconnect backoff and, unless `resync`
   * is false (the watcher publishes full lists itself), runs a full fetch to catch up.
   */
  connected(resync?: boolean): void;
}

/**
 * Follows the source's change stream until it ends (resolve) or fails (reject); it is then
 * reconnected with backoff. Must return promptly once `ctx.signal` aborts.
 */
export type Watcher<T = BackendSpec[]> = (ctx: WatchContext<T>) => Promise<void>;

export interface DiscoverySource<T = BackendSpec[]> {
  fetch: Fetcher<T>;
  watch?: Watcher<T>;
  /** Asked after each successful fetch: an upper bound for the next pause (e.g. swarm tasks). */
  pollHintMs?: () => number | undefined;
  /** Releases what the source holds (agents, sockets); called once by stop(). */
  close?: () => void;
}

export interface DiscoveryRunnerOptions<T = BackendSpec[]> {
  /** A fetcher, or a source with an optional watcher. */
  fetch: Fetcher<T> | DiscoverySource<T>;
  /** Pause between successful fetches; 0 = fetch until the first success, then stop. */
  intervalMs: number;
  /** Per-fetch timeout; 0 = none. */
  timeoutMs: number;
  failpolicy: DiscoveryConfig["failpolicy"];
  /** Pause after a failed fetch. */
  retryMs: number;
  /** Pause between fetches while the watcher is not connected. Default: intervalMs. */
  watchDownPollMs?: number;
  /** Reconnect backoff of the watcher: first and largest pause. Default 250 ms … 10 s. */
  watchBackoffMs?: { min: number; max: number };
  onUpdate: (backends: T) => void;
  /** What failpolicy "setempty" publishes. Default: an empty list. */
  empty?: T;
  log: Logger;
}

export class DiscoveryRunner<T = BackendSpec[]> {
  private timer?: NodeJS.Timeout;
  private readonly life = new AbortController();
  private fetchAbort?: AbortController;
  private stopped = false;
  private started = false;
  private failing = false;
  private fetching = false;
  private dirty = false;
  /** Bumped by every watcher publish; a fetch started before a publish is stale. */
  private generation = 0;
  private watchUp = false;
  private watchFailing = false;
  private readonly source: DiscoverySource<T>;

  constructor(private readonly opts: DiscoveryRunnerOptions<T>) {
    this.source = typeof opts.fetch === "function" ? { fetch: opts.fetch } : opts.fetch;
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    void this.tick();
    if (this.source.watch) void this.watchLoop(this.source.watch);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.fetchAbort?.abort();
    this.life.abort();
    this.source.close?.();
  }

  /** Fetches now (or right after the fetch in flight). */
  refresh(): void {
    if (this.stopped || !this.started) return;
    if (this.fetching) {
      this.dirty = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    void this.tick();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.tick();
    }, ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.stopped || this.fetching) return;
    const { opts } = this;
    this.fetching = true;
    this.dirty = false;
    this.fetchAbort = new AbortController();
    const signal =
      opts.timeoutMs > 0
        ? AbortSignal.any([this.fetchAbort.signal, AbortSignal.timeout(opts.timeoutMs)])
        : this.fetchAbort.signal;
    const generation = this.generation;
    let next: number | null;
    try {
      const backends = await this.source.fetch(signal);
      if (this.stopped) return;
      if (this.failing) opts.log.info({ backends: sizeOf(backends) }, "discovery recovered");
      this.failing = false;
      // A watcher published a newer list while this fetch was in flight: keep the newer one.
      if (generation === this.generation) opts.onUpdate(backends);
      next = this.pauseAfterSuccess();
    } catch (err) {
      if (this.stopped) return;
      if (!this.failing) {
        opts.log.warn(
          { err: errorText(err, signal, opts.timeoutMs), failpolicy: opts.failpolicy },
          "discovery failed",
        );
      }
      this.failing = true;
      if (opts.failpolicy === "setempty") opts.onUpdate(opts.empty ?? ([] as unknown as T));
      next = opts.retryMs;
    } finally {
      this.fetching = false;
    }
    if (this.dirty) next = 0;
    if (next !== null) this.schedule(next);
  }

  private pauseAfterSuccess(): number | null {
    const { opts } = this;
    if (opts.intervalMs <= 0) return null;
    let pause = opts.intervalMs;
    if (this.source.watch && !this.watchUp) pause = opts.watchDownPollMs ?? pause;
    const hint = this.source.pollHintMs?.();
    if (hint !== undefined && hint > 0) pause = Math.min(pause, hint);
    return pause;
  }

  private async watchLoop(watch: Watcher<T>): Promise<void> {
    const { opts } = this;
    const backoff = opts.watchBackoffMs ?? { min: 250, max: 10_000 };
    let delay = backoff.min;
    const ctx: WatchContext<T> = {
      signal: this.life.signal,
      refresh: () => this.refresh(),
      publish: (backends) => {
        if (this.stopped) return;
        this.generation++;
        if (this.failing) opts.log.info({ backends: sizeOf(backends) }, "discovery recovered");
        this.failing = false;
        opts.onUpdate(backends);
      },
      connected: (resync = true) => {
        if (this.stopped) return;
        if (this.watchFailing) opts.log.info("discovery watch reconnected");
        this.watchFailing = false;
        this.watchUp = true;
        delay = backoff.min;
        // Whatever happened while the stream was down is only visible in a full fetch.
        if (resync) this.refresh();
      },
    };
    while (!this.stopped) {
      let failure: unknown;
      try {
        await watch(ctx);
        failure = new Error("stream ended");
      } catch (err) {
        failure = err;
      }
      const wasUp = this.watchUp;
      this.watchUp = false;
      if (this.stopped) return;
      if (!this.watchFailing) {
        opts.log.warn(
          {
            err: errorText(failure),
            poll_ms: opts.watchDownPollMs ?? opts.intervalMs,
          },
          "discovery watch lost; polling until it reconnects",
        );
      }
      this.watchFailing = true;
      // Poll at the faster rate from now on, not only after the next scheduled fetch.
      if (wasUp && !this.fetching) this.refresh();
      await sleep(delay, this.life.signal);
      delay = Math.min(delay * 2, backoff.max);
    }
  }
}

/** How many backends a published value holds (a provider's snapshot has no length). */
function sizeOf(value: unknown): number | undefined {
  return Array.isArray(value) ? value.length : undefined;
}

/** The error's message; a bare abort by the per-fetch timeout is named as a timeout. */
function errorText(err: unknown, signal?: AbortSignal, timeoutMs = 0): string {
  const name = (err as Error | undefined)?.name;
  if (signal?.aborted && (name === "TimeoutError" || name === "AbortError")) {
    return `timed out after ${timeoutMs} ms`;
  }
  return err instanceof Error ? err.message : String(err);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    t.unref();
    signal.addEventListener("abort", done, { once: true });
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
