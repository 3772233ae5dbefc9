// The shape shared by the healthcheck kinds.
import type { CheckResult } from "./state";

export type { CheckResult };

/**
 * One healthcheck of `host:port`. Never rejects; settles within `timeoutMs` (plus a few ms of
 * event-loop slack) and closes every socket / process it opened. Aborting `signal` settles it at
 * once with "unhealthy" and releases its resources.
 */
export type HealthCheck = (
  host: string,
  port: number,
  timeoutMs: number,
  signal?: AbortSignal,
) => Promise<CheckResult>;

/**
 * Helper for the check implementations: a settle-once result with a timeout and abort hookup.
 * `cleanup` runs exactly once, when the check settles.
 */
export function settleOnce(
  timeoutMs: number,
  signal: AbortSignal | undefined,
  cleanup: () => void,
): { promise: Promise<CheckResult>; finish: (r: CheckResult) => void; done: () => boolean } {
  let resolve!: (r: CheckResult) => void;
  const promise = new Promise<CheckResult>((r) => {
    resolve = r;
  });
  let settled = false;
  const onAbort = (): void => finish("unhealthy");
  const timer = setTimeout(() => finish("unhealthy"), Math.max(0, timeoutMs));
  timer.unref();
  function finish(r: CheckResult): void {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
    try {
      cleanup();
    } catch {
      // Closing an already closed handle: nothing left to release.
    }
    resolve(r);
  }
  if (signal) {
    if (signal.aborted) queueMicrotask(onAbort);
    else signal.addEventListener("abort", onAbort, { once: true });
  }
  return { promise, finish, done: () => settled };
}
