// Messages between the main thread (control plane + one data plane) and the worker threads
// (data planes only) when `workers > 1`. Servers are named by an id unique to the process, since
// a deleted server may still drain while a new one of the same name starts.
import type { LoggingConfig, ServerConfig } from "../config/types";
import type { BackendEntry } from "../core/backend-table";

/** Cumulative counters of one thread's connections to a backend: total, refused, rx, tx. */
export type BackendTotals = [number, number, number, number];

export interface ServerTotals {
  rx: number;
  tx: number;
  /** Client connections open on this thread now (not cumulative): the kernel's spread. */
  active: number;
  /** `${key}#${slot}` → totals. */
  backends: Record<string, BackendTotals>;
}

/** `stop` grace meaning: stop accepting now, let connections end on their own. */
export const DRAIN_UNBOUNDED = -1;

export type ToWorker =
  | {
      t: "server";
      id: number;
      name: string;
      config: ServerConfig;
      /** Host and port actually bound by the main thread (a configured port 0 resolved). */
      host: string;
      port: number;
      counters: SharedArrayBuffer;
      request: number;
    }
  | { t: "backends"; id: number; version: number; list: BackendEntry[] }
  | { t: "stop"; id: number; graceMs: number; request: number }
  | { t: "close-backend"; id: number; key: string; request: number }
  | { t: "totals"; request: number };

export type FromWorker =
  | { t: "ready" }
  | { t: "applied"; version: number }
  | { t: "done"; request: number; error?: string; closed?: number }
  | { t: "totals"; request: number; servers: Record<number, ServerTotals> };

/** workerData of a data-plane thread. */
export interface WorkerInit {
  role: "geoswarm-data-plane";
  index: number;
  logging: LoggingConfig;
}

export const isWorkerInit = (data: unknown): data is WorkerInit =>
  typeof data === "object" && data !== null && (data as WorkerInit).role === "geoswarm-data-plane";
