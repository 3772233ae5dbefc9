// What a front end (TCP or UDP) needs from its server. Settings are read per connection, so an
// in-place server update takes effect for new connections without touching live ones.
import type { AccessList } from "../core/access";
import type { BackendTable } from "../core/backend-table";
import type { SharedCounters } from "../core/shared-counters";
import type { Logger } from "../log/logger";

export interface FrontendSettings {
  /** Server max_connections (TCP clients, UDP sessions); 0 = unlimited. */
  maxConnections: number;
  connectTimeoutMs: number;
  /** Other backends to try after a connect failure. */
  retries: number;
  clientIdleMs: number;
  backendIdleMs: number;
  proxyProtocol: "1" | "2" | null;
  access: AccessList | null;
  /** UDP only: packets per session (0 = unlimited). */
  maxRequests: number;
  /** UDP only: replies per session (0 = unlimited). */
  maxResponses: number;
}

export interface ServerCounters {
  /** This thread's client connections (TCP) or sessions (UDP). */
  activeConnections: number;
  /** Bytes received from backends. */
  rxTotal: number;
  /** Bytes sent to backends. */
  txTotal: number;
}

export interface ProxyContext {
  table: BackendTable;
  counters: ServerCounters;
  config(): FrontendSettings;
  clientIp(remoteAddress: string | undefined): string;
  log: Logger;
  /**
   * `workers > 1`: the server's election counters shared by every thread; the server-wide
   * connection count (and so max_connections) lives there too.
   */
  shared?: SharedCounters;
}
