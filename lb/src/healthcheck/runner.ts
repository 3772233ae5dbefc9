// Runs the healthchecks of one server's backends and reports live-state transitions.
//
// * sync(backends) starts a worker for every new key (its first check runs at once) and stops the
//   workers of keys no longer listed. A worker starts from the entry's `live` if given (the
//   backend table passes its records, so a changed healthcheck config continues from the current
//   verdict), else from cfg.initial_status.
// * One check at a time per backend, never overlapping: the next check starts `interval` after
//   the previous one STARTED, or as soon as it finished if it ran longer than that (gobetween
//   starts one every interval regardless and lets them overlap).
// * Per-check timeout = cfg.timeout; "0" (gobetween: no timeout at all) means the interval, so a
//   hung check can never stall a worker for longer than one period.
// * Results go through HealthState (consecutive fails/passes, see state.ts); only transitions
//   are reported, through onTransition(key, live).
// * Timers are unref'd. stop() (and removal by sync) aborts in-flight checks, closing their
//   sockets and killing their processes; no callback fires afterwards.
// * kind "none": no checks at all.
// * Start-up grace: a backend that has not passed a check yet is re-checked every
//   STARTUP_RECHECK_MS (not every interval) during its first interval. A container discovered
//   the instant it starts often fails its very first check because its process is not listening
//   yet; without this it stayed out of rotation for a whole interval (2 s in the article).
//   Thresholds are unchanged: it still needs `passes` consecutive passes.
import { parseDuration } from "../config/duration";
import type { HealthcheckConfig } from "../config/types";
import type { HealthCheck } from "./check";
import { createExecCheck } from "./exec";
import { ping } from "./ping";
import { createProbeCheck } from "./probe";
import { type CheckResult, HealthState } from "./state";

export interface HealthcheckLog {
  warn(obj: Record<string, unknown>, msg: string): void;
  debug(obj: Record<string, unknown>, msg: string): void;
}

export interface HealthcheckTarget {
  key: string;
  host: string;
  port: number;
  /** Current live state; when absent the worker starts from cfg.initial_status. */
  live?: boolean;
}

export interface HealthcheckRunnerOptions {
  /** Replaces the check derived from cfg.kind (tests; custom kinds). Ignored for kind "none". */
  check?: HealthCheck;
}

/** Interval used when the configured one is missing or not > 0 (the validator forbids that). */
const FALLBACK_INTERVAL_MS = 1000;
/** Re-check period for a backend that has not passed yet, during its first interval. */
export const STARTUP_RECHECK_MS = 200;
/** The longest delay setTimeout() accepts (2^31 - 1 ms). */
const MAX_TIMER_MS = 2_147_483_647;

/** The check function for a healthcheck kind, or null for "none". */
export function createHealthCheck(cfg: HealthcheckConfig): HealthCheck | null {
  switch (cfg.kind) {
    case "ping":
      return ping;
    case "probe":
      return createProbeCheck(cfg);
    case "exec":
      return createExecCheck(cfg);
    default:
      return null;
  }
}

interface Worker {
  readonly target: HealthcheckTarget;
  readonly state: HealthState;
  timer: NodeJS.Timeout | undefined;
  abort: AbortController | undefined;
  stopped: boolean;
  /** When the worker was created (start-up grace). */
  readonly createdAt: number;
  /** True once a check has passed. */
  passedOnce: boolean;
}

export class HealthcheckRunner {
  private readonly check: HealthCheck | null;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly workers = new Map<string, Worker>();
  private stopped = false;

  constructor(
    private readonly cfg: HealthcheckConfig,
    private readonly onTransition: (key: string, live: boolean) => void,
    private readonly log?: HealthcheckLog,
    options: HealthcheckRunnerOptions = {},
  ) {
    this.check = cfg.kind === "none" ? null : (options.check ?? createHealthCheck(cfg));
    let interval = 0;
    let timeout = 0;
    if (this.check) {
      interval = parseDuration(cfg.interval);
      timeout = parseDuration(cfg.timeout);
      if (!(interval > 0)) {
        log?.warn({ interval: cfg.interval }, "healthcheck interval must be > 0, using 1s");
        interval = FALLBACK_INTERVAL_MS;
      }
    }
    // The validator caps durations at the longest timer; clamp anyway (a longer setTimeout
    // would fire after 1 ms and turn the worker into a busy loop).
    this.intervalMs = Math.min(interval, MAX_TIMER_MS);
    this.timeoutMs = Math.min(timeout > 0 ? timeout : interval, MAX_TIMER_MS);
  }

  /** Brings the set of checked backends in line with `backends`. */
  sync(backends: readonly HealthcheckTarget[]): void {
    if (this.stopped || !this.check) return;
    const wanted = new Set<string>();
    for (const b of backends) {
      wanted.add(b.key);
      if (this.workers.has(b.key)) continue;
      const live = b.live ?? this.cfg.initial_status !== "unhealthy";
      const worker: Worker = {
        target: { key: b.key, host: b.host, port: b.port },
        state: new HealthState(live, this.cfg.fails, this.cfg.passes),
        timer: undefined,
        abort: undefined,
        stopped: false,
        createdAt: Date.now(),
        passedOnce: false,
      };
      this.workers.set(b.key, worker);
      this.run(worker);
    }
    for (const [key, worker] of this.workers) {
      if (!wanted.has(key)) {
        this.stopWorker(worker);
        this.workers.delete(key);
      }
    }
  }

  /** Keys currently being checked. */
  keys(): string[] {
    return [...this.workers.keys()];
  }

  /** Stops every check; nothing is reported afterwards. Idempotent. */
  stop(): void {
    this.stopped = true;
    for (const worker of this.workers.values()) this.stopWorker(worker);
    this.workers.clear();
  }

  private stopWorker(worker: Worker): void {
    worker.stopped = true;
    if (worker.timer) clearTimeout(worker.timer);
    worker.timer = undefined;
    worker.abort?.abort();
    worker.abort = undefined;
  }

  private run(worker: Worker): void {
    const check = this.check;
    if (worker.stopped || !check) return;
    worker.timer = undefined;
    const abort = new AbortController();
    worker.abort = abort;
    const started = Date.now();
    const { host, port } = worker.target;
    let result: Promise<CheckResult>;
    try {
      result = check(host, port, this.timeoutMs, abort.signal);
    } catch {
      result = Promise.resolve("unhealthy");
    }
    result.then(
      (r) => this.complete(worker, r, started),
      () => this.complete(worker, "unhealthy", started),
    );
  }

  private complete(worker: Worker, result: CheckResult, started: number): void {
    if (worker.stopped) return;
    worker.abort = undefined;
    const key = worker.target.key;
    if (result === "unknown") {
      this.log?.warn(
        { backend: key },
        "healthcheck output matched neither expected output; counted as a failure",
      );
    } else {
      this.log?.debug({ backend: key, result }, "healthcheck result");
    }
    if (worker.state.record(result)) {
      try {
        this.onTransition(key, worker.state.live);
      } catch (err) {
        this.log?.warn({ backend: key, err: String(err) }, "healthcheck transition handler failed");
      }
    }
    if (worker.stopped) return; // onTransition may have synced this worker away
    if (result === "healthy") worker.passedOnce = true;
    const inStartup = !worker.passedOnce && Date.now() - worker.createdAt < this.intervalMs;
    const period = inStartup ? Math.min(STARTUP_RECHECK_MS, this.intervalMs) : this.intervalMs;
    const delay = Math.max(0, period - (Date.now() - started));
    worker.timer = setTimeout(() => this.run(worker), delay);
    worker.timer.unref();
  }
}
