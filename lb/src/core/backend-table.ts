// The one owner of a server's backends. Discovery results, healthcheck transitions, operator
// switches and connection/traffic counters flow in through its methods; elections read from it.
// Nothing else mutates a Backend.
import type { BackendSpec } from "../config/types";
import type { Backend, ElectionContext, Strategy } from "./backend";

export interface BackendTableOptions {
  strategy: Strategy;
  /** Live state given to a newly discovered backend (false when healthchecks start it unhealthy). */
  initialLive: boolean;
  /** Called after the set of backends changes (added or removed), e.g. to resync healthchecks. */
  onMembershipChange?: (backends: readonly Backend[]) => void;
}

export interface DiscoveryMergeResult {
  added: string[];
  removed: string[];
  /** Undiscovered backends kept because they still carry connections. */
  lingering: string[];
}

export class BackendTable {
  private readonly byKey = new Map<string, Backend>();
  /** Every backend, sorted by key; rebuilt on membership change only. */
  private all: Backend[] = [];
  /** Electable backends before the max_connections filter; null = rebuild on next election. */
  private eligible: Backend[] | null = null;
  private anyBackendLimit = false;
  private strategy: Strategy;
  private initialLive: boolean;
  private readonly onMembershipChange?: (backends: readonly Backend[]) => void;
  private lastRx = new Map<string, number>();
  private lastTx = new Map<string, number>();

  constructor(opts: BackendTableOptions) {
    this.strategy = opts.strategy;
    this.initialLive = opts.initialLive;
    this.onMembershipChange = opts.onMembershipChange;
  }

  get backends(): readonly Backend[] {
    return this.all;
  }

  get(key: string): Backend | undefined {
    return this.byKey.get(key);
  }

  setStrategy(strategy: Strategy): void {
    this.strategy = strategy;
  }

  /** Live state for backends discovered from now on (after a healthcheck change). */
  setInitialLive(live: boolean): void {
    this.initialLive = live;
  }

  /**
   * Merges a discovery result: listed backends are created or updated (stats and live state
   * kept), unlisted ones become undiscovered and are dropped once they carry no connection.
   */
  applyDiscovery(specs: readonly BackendSpec[]): DiscoveryMergeResult {
    // A backend listed twice takes its last entry, as gobetween's.
    const latest = new Map<string, BackendSpec>();
    for (const spec of specs) latest.set(`${spec.host}:${spec.port}`, spec);
    const seen = new Set<string>(latest.keys());
    const added: string[] = [];
    for (const [key, spec] of latest) {
      const existing = this.byKey.get(key);
      if (existing) {
        existing.weight = spec.weight;
        existing.priority = spec.priority;
        existing.max_connections = spec.max_connections;
        existing.sni = spec.sni;
        existing.discovered = true;
      } else {
        this.byKey.set(key, newBackend(key, spec, this.initialLive));
        added.push(key);
      }
    }
    const removed: string[] = [];
    const lingering: string[] = [];
    for (const [key, backend] of this.byKey) {
      if (seen.has(key)) continue;
      backend.discovered = false;
      if (backend.activeConnections === 0) {
        this.byKey.delete(key);
        removed.push(key);
      } else {
        lingering.push(key);
      }
    }
    this.rebuild(added.length > 0 || removed.length > 0);
    return { added, removed, lingering };
  }

  /** Healthcheck verdict for one backend. Returns true when the state changed. */
  setLive(key: string, live: boolean): boolean {
    const backend = this.byKey.get(key);
    if (!backend || backend.live === live) return false;
    backend.live = live;
    this.eligible = null;
    return true;
  }

  /** Operator switch: a disabled backend keeps its connections but is never elected. */
  setEnabled(key: string, enabled: boolean): boolean {
    const backend = this.byKey.get(key);
    if (!backend) return false;
    backend.enabled = enabled;
    this.eligible = null;
    return true;
  }

  /**
   * Elects a backend for a new connection and counts it as active at once, so concurrent
   * connects cannot overshoot max_connections or mislead leastconn. `exclude` holds backends
   * that already failed for this client. Returns undefined when nothing can be elected.
   */
  elect(ctx: ElectionContext, exclude?: ReadonlySet<Backend>): Backend | undefined {
    let candidates = this.eligible ?? this.rebuildEligible();
    if (this.anyBackendLimit || (exclude && exclude.size > 0)) {
      candidates = candidates.filter(
        (b) =>
          (b.max_connections === 0 || b.activeConnections < b.max_connections) && !exclude?.has(b),
      );
    }
    if (candidates.length === 0) return undefined;
    const backend = candidates.length === 1 ? candidates[0] : this.strategy.elect(candidates, ctx);
    backend.activeConnections++;
    return backend;
  }

  /** The elected backend accepted the connection. */
  connectionEstablished(backend: Backend): void {
    backend.totalConnections++;
  }

  /** The elected backend refused or timed out: undo the election's count and record it. */
  connectionRefused(backend: Backend): void {
    backend.refusedConnections++;
    this.release(backend);
  }

  /** A connection to the backend ended. */
  connectionClosed(backend: Backend): void {
    this.release(backend);
  }

  private release(backend: Backend): void {
    backend.activeConnections--;
    if (
      !backend.discovered &&
      backend.activeConnections === 0 &&
      this.byKey.get(backend.key) === backend
    ) {
      this.byKey.delete(backend.key);
      this.rebuild(true);
    }
  }

  /** Recomputes per-second rates over `windowMs`; called on a fixed tick (2 s). */
  updateRates(windowMs: number): void {
    const seconds = windowMs / 1000;
    for (const b of this.all) {
      const rx0 = this.lastRx.get(b.key) ?? b.rxBytes;
      const tx0 = this.lastTx.get(b.key) ?? b.txBytes;
      b.rxSecond = Math.round((b.rxBytes - rx0) / seconds);
      b.txSecond = Math.round((b.txBytes - tx0) / seconds);
    }
    this.lastRx = new Map(this.all.map((b) => [b.key, b.rxBytes]));
    this.lastTx = new Map(this.all.map((b) => [b.key, b.txBytes]));
  }

  private rebuild(membershipChanged: boolean): void {
    this.all = [...this.byKey.values()].sort((a, b) =>
      a.key < b.key ? -1 : a.key > b.key ? 1 : 0,
    );
    this.anyBackendLimit = this.all.some((b) => b.max_connections > 0);
    this.eligible = null;
    if (membershipChanged) this.onMembershipChange?.(this.all);
  }

  private rebuildEligible(): Backend[] {
    this.eligible = this.all.filter((b) => b.discovered && b.live && b.enabled);
    return this.eligible;
  }
}

/** A fresh table entry for a discovered backend (counters at zero). */
export function newBackend(key: string, spec: BackendSpec, live: boolean): Backend {
  return {
    key,
    host: spec.host,
    port: spec.port,
    weight: spec.weight,
    priority: spec.priority,
    max_connections: spec.max_connections,
    sni: spec.sni,
    live,
    discovered: true,
    enabled: true,
    activeConnections: 0,
    totalConnections: 0,
    refusedConnections: 0,
    rxBytes: 0,
    txBytes: 0,
    rxSecond: 0,
    txSecond: 0,
  };
}
