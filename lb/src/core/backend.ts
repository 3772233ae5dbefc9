// A backend as the server's backend table holds it. Only the table (core/backend-table.ts)
// changes its membership, state and election counts; the data path adds to its byte counters
// and the worker pool folds in other threads' totals. Strategies, the API and stats read it.

export interface Backend {
  /** Identity: exact `host:port` strings, as gobetween (`localhost:80` ≠ `127.0.0.1:80`). */
  readonly key: string;
  readonly host: string;
  readonly port: number;
  weight: number;
  priority: number;
  /** Per-backend connection limit; 0 = unlimited. */
  max_connections: number;
  sni: string;
  /** Healthcheck verdict (always true with healthcheck kind "none"). */
  live: boolean;
  /** Listed by the latest discovery result. */
  discovered: boolean;
  /** Operator switch (API): a disabled backend is never elected. */
  enabled: boolean;
  /**
   * Index of its election counter in the server's SharedCounters when `workers > 1` (then
   * activeConnections reads that counter: every thread's connections); 0 otherwise.
   */
  slot: number;
  activeConnections: number;
  totalConnections: number;
  refusedConnections: number;
  /** Bytes received from the backend (sent on to clients). */
  rxBytes: number;
  /** Bytes sent to the backend. */
  txBytes: number;
  /** Bytes per second over the last 2 s window. */
  rxSecond: number;
  txSecond: number;
}

/** What a strategy needs to know about the client being balanced. */
export interface ElectionContext {
  /** Client IP address as text, IPv4-mapped IPv6 already reduced to IPv4. */
  clientIp: string;
}

/**
 * A balancing strategy. `candidates` are the backends that may be elected right now (discovered,
 * live, enabled, under their max_connections), sorted by key, never empty.
 * Returns one of them.
 */
export interface Strategy {
  elect(candidates: readonly Backend[], ctx: ElectionContext): Backend;
}
