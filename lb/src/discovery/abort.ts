// The error a discovery step reports when its AbortSignal fires: the per-fetch timeout
// (AbortSignal.timeout, reason "TimeoutError") or the runner stopping.

export function abortError(what: string, signal: AbortSignal, timedOut = "timed out"): Error {
  const reason = signal.reason as Error | undefined;
  return new Error(`${what}: ${reason?.name === "TimeoutError" ? timedOut : "aborted"}`);
}
