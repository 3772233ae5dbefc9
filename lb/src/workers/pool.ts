// `workers = N`: N-1 worker threads beside the main thread, each running copies of the TCP
// servers that accept on the same addresses (SO_REUSEPORT, so the kernel spreads connections and
// no thread hands sockets to another). The main thread keeps the control plane (API, discovery,
// healthchecks, state) and one data plane; it publishes each server's backend list to the
// workers. Election counters are shared memory (core/shared-counters.ts), so leastconn and
// max_connections hold across threads; byte and connection totals are per thread and folded into
// the main thread's tables before stats are read. UDP servers run on the main thread only.
// Threads rather than processes: only threads can share the counters' memory.
import { Worker } from "node:worker_threads";
import type { LoggingConfig } from "../config/types";
import type { SharedElection } from "../core/backend-table";
import { RATE_WINDOW_MS, type Server, type WorkerLink } from "../core/server";
import { BACKEND_SLOTS, SharedCounters, SlotAllocator } from "../core/shared-counters";
import type { Logger } from "../log/logger";
import {
  DRAIN_UNBOUNDED,
  type FromWorker,
  type ServerTotals,
  type ToWorker,
  type WorkerInit,
} from "./protocol";

/** A worker that does not answer a request within this is treated as broken. */
const REQUEST_TIMEOUT_MS = 10_000;

interface Pending {
  remaining: number;
  replies: FromWorker[];
  resolve: (replies: FromWorker[]) => void;
  timer: NodeJS.Timeout;
}

const EMPTY_TOTALS: ServerTotals = { rx: 0, tx: 0, active: 0, backends: {} };

/** A server's slots, and the slots it removed that no published list has dropped yet. */
interface SlotRecord {
  slots: SlotAllocator;
  retired: number[];
  /** The workers run this server: a slot is free only once they applied a list without it. */
  placed: boolean;
}

export class WorkerPool implements WorkerLink {
  private readonly threads: Worker[] = [];
  /** Per worker: the last backend-list version it applied. */
  private readonly applied: number[] = [];
  /** Per worker: server id → totals it reported last. */
  private readonly lastTotals: Array<Map<number, ServerTotals>> = [];
  private version = 0;
  private requestSeq = 0;
  private readonly pending = new Map<number, Pending>();
  /** Every server started with this pool, by id (rates are ticked for all). */
  private readonly servers = new Map<number, Server>();
  /** Ids of the servers the workers run (TCP ones). */
  private readonly onWorkers = new Set<number>();
  private readonly toPublish = new Set<Server>();
  private readonly records = new WeakMap<SharedCounters, SlotRecord>();
  private syncing?: Promise<void>;
  private rateTimer?: NodeJS.Timeout;
  private closing = false;

  private constructor(private readonly log: Logger) {}

  /** Starts `count` worker threads from `entry` (the geoswarm-lb bundle) and waits until ready. */
  static async start(
    count: number,
    entry: string,
    logging: LoggingConfig,
    log: Logger,
  ): Promise<WorkerPool> {
    const pool = new WorkerPool(log);
    const ready = Array.from({ length: count }, (_, index) =>
      pool.spawn(index + 1, entry, logging),
    );
    try {
      await Promise.all(ready);
    } catch (err) {
      await pool.close();
      throw err;
    }
    pool.rateTimer = setInterval(() => void pool.tickRates(), RATE_WINDOW_MS);
    pool.rateTimer.unref();
    log.info({ workers: count + 1 }, "data-plane worker threads started");
    return pool;
  }

  private spawn(index: number, entry: string, logging: LoggingConfig): Promise<void> {
    const init: WorkerInit = { role: "geoswarm-data-plane", index, logging };
    const worker = new Worker(entry, { workerData: init });
    const slot = this.threads.length;
    this.threads.push(worker);
    this.applied.push(0);
    this.lastTotals.push(new Map());
    return new Promise((resolve, reject) => {
      worker.on("message", (msg: FromWorker) => {
        if (msg.t === "ready") resolve();
        else if (msg.t === "applied") this.applied[slot] = msg.version;
        else this.answer(msg, slot);
      });
      worker.on("error", (err) => {
        reject(err);
        this.fail(`worker thread ${index} failed: ${err.stack ?? err.message}`);
      });
      worker.on("exit", (code) => {
        reject(new Error(`worker thread ${index} exited with code ${code} before it was ready`));
        if (!this.closing) this.fail(`worker thread ${index} exited with code ${code}`);
      });
    });
  }

  /**
   * A data plane that died took its connections and their counts with it: the shared counters
   * can no longer be trusted, so the process stops and its supervisor (systemd) restarts it,
   * as after a crash of a single-threaded balancer.
   */
  private fail(message: string): void {
    if (this.closing) return;
    this.log.fatal({ err: message }, "data-plane thread lost; exiting");
    process.exit(1);
  }

  /** Counters and slots for a new server's table. */
  newShared(): SharedElection {
    const counters = new SharedCounters();
    const record: SlotRecord = { slots: new SlotAllocator(counters), retired: [], placed: false };
    this.records.set(counters, record);
    return {
      counters,
      allocate: () => {
        const slot = record.slots.allocate(Math.min(...this.applied));
        if (slot === 0) {
          this.log.error(
            { limit: BACKEND_SLOTS },
            "workers: every backend slot of this server is in use; new backends are not elected",
          );
        }
        return slot;
      },
      // Free once the version of the list that drops it is applied everywhere (publish()).
      retire: (slot) => {
        if (record.placed) record.retired.push(slot);
        else record.slots.retire(slot, 0);
      },
    };
  }

  /** Marks `server`'s removed slots with the version of the list that no longer has them. */
  private markRetired(server: Server, version: number): void {
    const record = server.sharedCounters && this.records.get(server.sharedCounters);
    if (!record) return;
    for (const slot of record.retired) record.slots.retire(slot, version);
    record.retired = [];
  }

  private setPlaced(server: Server, placed: boolean): void {
    const record = server.sharedCounters && this.records.get(server.sharedCounters);
    if (record) record.placed = placed;
  }

  async started(server: Server): Promise<void> {
    this.servers.set(server.id, server);
    if (server.config.protocol === "tcp") await this.place(server);
  }

  async updated(server: Server): Promise<void> {
    const tcp = server.config.protocol === "tcp";
    if (tcp) await this.place(server);
    // Re-bound to UDP: like the main thread's old listener, the workers' drain with no deadline.
    else if (this.onWorkers.has(server.id)) await this.unplace(server, DRAIN_UNBOUNDED);
  }

  async stopped(server: Server, graceMs: number): Promise<void> {
    this.servers.delete(server.id);
    if (this.onWorkers.has(server.id)) await this.unplace(server, graceMs);
  }

  async closeBackend(server: Server, key: string): Promise<number> {
    if (!this.onWorkers.has(server.id)) return 0;
    const replies = await this.broadcast((request) => ({
      t: "close-backend",
      id: server.id,
      key,
      request,
    }));
    return replies.reduce((n, r) => n + (r.t === "done" ? (r.closed ?? 0) : 0), 0);
  }

  backendsChanged(server: Server): void {
    if (!this.onWorkers.has(server.id)) return;
    if (this.toPublish.size === 0) queueMicrotask(() => this.publish());
    this.toPublish.add(server);
  }

  /** Folds every worker's byte and connection totals into the main thread's tables. */
  syncTotals(): Promise<void> {
    if (this.threads.length === 0) return Promise.resolve();
    this.syncing ??= this.broadcast((request) => ({ t: "totals", request }))
      .then((replies) => {
        replies.forEach((r, worker) => {
          if (r.t === "totals") this.fold(worker, r.servers);
        });
      })
      .finally(() => {
        this.syncing = undefined;
      });
    return this.syncing;
  }

  /**
   * `server`'s open client connections on each worker thread (thread 1..N-1), as of the last
   * syncTotals(); empty for a server the workers do not run (UDP). SO_REUSEPORT hashes each
   * connection to a thread, so an uneven split shows here.
   */
  threadConnections(server: Server): number[] {
    if (!this.onWorkers.has(server.id)) return [];
    return this.lastTotals.map((totals) => totals.get(server.id)?.active ?? 0);
  }

  /** Stops the worker threads (their servers must have been stopped first). */
  async close(): Promise<void> {
    this.closing = true;
    if (this.rateTimer) clearInterval(this.rateTimer);
    await Promise.all(this.threads.map((w) => w.terminate()));
  }

  /** Starts the server on every worker, or updates it there (re-binding if needed). */
  private async place(server: Server): Promise<void> {
    const { address, port } = server.boundSocket();
    const counters = server.sharedCounters;
    if (!counters) throw new Error("a server run by workers needs shared counters");
    // Before awaiting: if the answer times out, stop() must still reach the workers that started.
    this.onWorkers.add(server.id);
    this.setPlaced(server, true);
    const replies = await this.broadcast((request) => ({
      t: "server",
      id: server.id,
      name: server.name,
      config: server.config,
      host: address,
      port,
      counters: counters.buffer,
      request,
    }));
    this.backendsChanged(server);
    const failed = replies.filter((r) => r.t === "done" && r.error);
    if (failed.length > 0) {
      const first = failed[0] as { error: string };
      throw new Error(`a worker thread cannot serve it: ${first.error}`);
    }
  }

  private async unplace(server: Server, graceMs: number): Promise<void> {
    // The workers forget the server's totals when it stops there: collect them first.
    await this.syncTotals().catch(() => undefined);
    this.onWorkers.delete(server.id);
    this.toPublish.delete(server);
    await this.broadcast(
      (request) => ({ t: "stop", id: server.id, graceMs, request }),
      Math.max(0, graceMs),
    );
    for (const totals of this.lastTotals) totals.delete(server.id);
    // No worker runs it any more: its removed slots need no list version.
    this.markRetired(server, 0);
    this.setPlaced(server, false);
  }

  private publish(): void {
    const servers = [...this.toPublish];
    this.toPublish.clear();
    for (const server of servers) {
      if (!this.onWorkers.has(server.id)) continue;
      const msg: ToWorker = {
        t: "backends",
        id: server.id,
        version: ++this.version,
        list: server.table.entries(),
      };
      this.markRetired(server, msg.version);
      for (const w of this.threads) w.postMessage(msg);
    }
  }

  private fold(worker: number, servers: Record<number, ServerTotals>): void {
    const last = this.lastTotals[worker];
    const since = (now: number, before: number): number => (now >= before ? now - before : now);
    for (const [idText, totals] of Object.entries(servers)) {
      const id = Number(idText);
      const server = this.servers.get(id);
      if (!server) continue;
      const prev = last.get(id) ?? EMPTY_TOTALS;
      server.counters.rxTotal += since(totals.rx, prev.rx);
      server.counters.txTotal += since(totals.tx, prev.tx);
      for (const [k, now] of Object.entries(totals.backends)) {
        const hash = k.lastIndexOf("#");
        const backend = server.table.get(k.slice(0, hash));
        if (!backend || backend.slot !== Number(k.slice(hash + 1))) continue;
        const before = prev.backends[k] ?? [0, 0, 0, 0];
        backend.totalConnections += since(now[0], before[0]);
        backend.refusedConnections += since(now[1], before[1]);
        backend.rxBytes += since(now[2], before[2]);
        backend.txBytes += since(now[3], before[3]);
      }
      last.set(id, totals);
    }
  }

  private async tickRates(): Promise<void> {
    // A tick that finds the last collection still running skips, rather than computing a
    // zero rate right after it.
    if (this.syncing) return;
    try {
      await this.syncTotals();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "cannot collect worker totals");
    }
    for (const server of this.servers.values()) server.updateRates();
  }

  private answer(msg: FromWorker, worker: number): void {
    if (msg.t !== "done" && msg.t !== "totals") return;
    const p = this.pending.get(msg.request);
    if (!p) return;
    p.replies[worker] = msg;
    if (--p.remaining === 0) {
      clearTimeout(p.timer);
      this.pending.delete(msg.request);
      p.resolve(p.replies);
    }
  }

  /** Sends one request to every worker; resolves with the replies in worker order. */
  private broadcast(make: (request: number) => ToWorker, extraMs = 0): Promise<FromWorker[]> {
    if (this.threads.length === 0) return Promise.resolve([]);
    const request = ++this.requestSeq;
    const msg = make(request);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(request);
        reject(new Error(`worker threads did not answer ${msg.t} in time`));
      }, REQUEST_TIMEOUT_MS + extraMs);
      timer.unref();
      this.pending.set(request, { remaining: this.threads.length, replies: [], resolve, timer });
      for (const w of this.threads) w.postMessage(msg);
    });
  }
}
