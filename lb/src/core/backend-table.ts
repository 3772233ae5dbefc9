// The one owner of a server's backends. Discovery results, healthcheck transitions, operator
// switches and connection counts flow in through its methods; elections read from it. Byte
// counters are added to by the data path directly (see core/backend.ts).
import type { BackendSpec } from "../config/types";
import type { Backend, ElectionContext, Strategy } from "./backend";
import type { SharedCounters } from "./shared-counters";

/**
 * With `workers > 1`, backends' active counts live in shared memory. The main thread's table
 * (fed by discovery) allocates slots; a worker's replica table takes them from the main
 * thread's published list (`replace`).
 */
export interface SharedElection {
  counters: SharedCounters;
  /** Main thread only: a slot for a new backend (0 when none is left). */
  allocate?(): number;
  /** Main thread only: a removed backend's slot, to be reused once no thread can touch it. */
  retire?(slot: number): void;
}

/** What a worker's replica needs of one backend; the main thread's table is the source. */
export interface BackendEntry extends BackendSpec {
  key: string;
  live: boolean;
  discovered: boolean;
  enabled: boolean;
  slot: number;
}

export interface BackendTableOptions {
  strategy: Strategy;
  /** Live state given to a newly discovered backend (false when healthchecks start it unhealthy). */
  initialLive: boolean;
  /** Called after the set of backends changes (added or removed), e.g. to resync healthchecks. */
  onMembershipChange?: (backends: readonly Backend[]) => void;
  /** Called after anything an election reads changes (membership, live, enabled, weights). */
  onElectionChange?: () => void;
  shared?: SharedElection;
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
  private readonly onElectionChange?: () => void;
  private readonly shared?: SharedElection;
  /** Byte counters at the previous rate tick, per backend object (a re-added one starts anew). */
  private readonly lastBytes = new WeakMap<Backend, { rx: number; tx: number }>();

  constructor(opts: BackendTableOptions) {
    this.strategy = opts.strategy;
    this.initialLive = opts.initialLive;
    this.onMembershipChange = opts.onMembershipChange;
    this.onElectionChange = opts.onElectionChange;
    this.shared = opts.shared;
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
    const added: string[] = [];
    // An unchanged result (most polls) leaves the table, its election cache and the workers'
    // copies alone.
    let changed = false;
    for (const [key, spec] of latest) {
      const existing = this.byKey.get(key);
      if (existing) {
        if (assignSpec(existing, spec) || !existing.discovered) changed = true;
        existing.discovered = true;
      } else {
        this.byKey.set(key, this.create(key, spec, this.initialLive));
        added.push(key);
      }
    }
    const removed: string[] = [];
    const lingering: string[] = [];
    for (const [key, backend] of this.byKey) {
      if (latest.has(key)) continue;
      if (backend.discovered) changed = true;
      backend.discovered = false;
      if (backend.activeConnections === 0) {
        this.remove(backend);
        removed.push(key);
      } else {
        lingering.push(key);
      }
    }
    const membershipChanged = added.length > 0 || removed.length > 0;
    if (changed || membershipChanged) this.rebuild(membershipChanged);
    return { added, removed, lingering };
  }

  /** Healthcheck verdict for one backend. Returns true when the state changed. */
  setLive(key: string, live: boolean): boolean {
    const backend = this.byKey.get(key);
    if (!backend || backend.live === live) return false;
    backend.live = live;
    this.invalidate();
    return true;
  }

  /** Operator switch: a disabled backend keeps its connections but is never elected. */
  setEnabled(key: string, enabled: boolean): boolean {
    const backend = this.byKey.get(key);
    if (!backend) return false;
    backend.enabled = enabled;
    this.invalidate();
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
    if (!this.shared) {
      backend.activeConnections++;
      return backend;
    }
    // Another thread may have taken the backend's last place since the filter above read it.
    if (this.shared.counters.tryAcquire(backend.slot, backend.max_connections)) return backend;
    const full = new Set(exclude);
    full.add(backend);
    return this.elect(ctx, full);
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
    if (this.shared) this.shared.counters.release(backend.slot);
    else backend.activeConnections--;
    if (
      !backend.discovered &&
      backend.activeConnections === 0 &&
      this.byKey.get(backend.key) === backend
    ) {
      this.remove(backend);
      this.rebuild(true);
    }
  }

  /**
   * Drops undiscovered backends whose connections have all ended. With workers the last
   * connection may end on another thread, which cannot call release() here; the main thread
   * sweeps on its rate tick.
   */
  sweepLingering(): void {
    let removed = false;
    for (const b of this.all) {
      if (!b.discovered && b.activeConnections === 0 && this.byKey.get(b.key) === b) {
        this.remove(b);
        removed = true;
      }
    }
    if (removed) this.rebuild(true);
  }

  /**
   * Worker replicas: takes the main thread's backend list as it is (slots included). Backends
   * that remain keep their objects (their connections and totals); a backend gone from the list
   * stays referenced by its live connections only.
   */
  replace(list: readonly BackendEntry[]): void {
    const previous = new Map(this.byKey);
    this.byKey.clear();
    for (const entry of list) {
      const existing = previous.get(entry.key);
      if (existing && existing.slot === entry.slot) {
        assignSpec(existing, entry);
        existing.live = entry.live;
        existing.discovered = entry.discovered;
        existing.enabled = entry.enabled;
        this.byKey.set(entry.key, existing);
      } else {
        const b = newBackend(entry.key, entry, entry.live, entry.slot, this.shared?.counters);
        b.discovered = entry.discovered;
        b.enabled = entry.enabled;
        this.byKey.set(entry.key, b);
      }
    }
    this.rebuild(true);
  }

  private create(key: string, spec: BackendSpec, live: boolean): Backend {
    const slot = this.shared?.allocate?.() ?? 0;
    return newBackend(key, spec, live, slot, this.shared?.counters);
  }

  private remove(backend: Backend): void {
    this.byKey.delete(backend.key);
    if (backend.slot > 0) this.shared?.retire?.(backend.slot);
  }

  private invalidate(): void {
    this.eligible = null;
    this.onElectionChange?.();
  }

  /** The list a worker's replica takes (replace). */
  entries(): BackendEntry[] {
    return this.all.map((b) => ({
      key: b.key,
      host: b.host,
      port: b.port,
      weight: b.weight,
      priority: b.priority,
      max_connections: b.max_connections,
      sni: b.sni,
      live: b.live,
      discovered: b.discovered,
      enabled: b.enabled,
      slot: b.slot,
    }));
  }

  /** Recomputes per-second rates over `windowMs`; called on a fixed tick (2 s). */
  updateRates(windowMs: number): void {
    const seconds = windowMs / 1000;
    for (const b of this.all) {
      const last = this.lastBytes.get(b);
      b.rxSecond = last ? Math.round((b.rxBytes - last.rx) / seconds) : 0;
      b.txSecond = last ? Math.round((b.txBytes - last.tx) / seconds) : 0;
      if (last) {
        last.rx = b.rxBytes;
        last.tx = b.txBytes;
      } else {
        this.lastBytes.set(b, { rx: b.rxBytes, tx: b.txBytes });
      }
    }
  }

  private rebuild(membershipChanged: boolean): void {
    this.all = [...this.byKey.values()].sort((a, b) =>
      a.key < b.key ? -1 : a.key > b.key ? 1 : 0,
    );
    this.anyBackendLimit = this.all.some((b) => b.max_connections > 0);
    this.invalidate();
    if (membershipChanged) this.onMembershipChange?.(this.all);
  }

  private rebuildEligible(): Backend[] {
    // With shared counters a backend without a slot (all taken) cannot be counted, so it is
    // never elected.
    this.eligible = this.all.filter(
      (b) => b.discovered && b.live && b.enabled && (!this.shared || b.slot > 0),
    );
    return this.eligible;
  }
}

/** Copies a backend line's settings onto a table entry; true when any of them changed. */
function assignSpec(b: Backend, spec: BackendSpec): boolean {
  const changed =
    b.weight !== spec.weight ||
    b.priority !== spec.priority ||
    b.max_connections !== spec.max_connections ||
    b.sni !== spec.sni;
  b.weight = spec.weight;
  b.priority = spec.priority;
  b.max_connections = spec.max_connections;
  b.sni = spec.sni;
  return changed;
}

/**
 * A fresh table entry for a discovered backend (counters at zero). With `shared`, its
 * activeConnections reads the shared counter of `slot`.
 */
export function newBackend(
  key: string,
  spec: BackendSpec,
  live: boolean,
  slot = 0,
  shared?: SharedCounters,
): Backend {
  const backend: Backend = {
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
    slot,
    activeConnections: 0,
    totalConnections: 0,
    refusedConnections: 0,
    rxBytes: 0,
    txBytes: 0,
    rxSecond: 0,
    txSecond: 0,
  };
  if (shared) {
    Object.defineProperty(backend, "activeConnections", {
      get: () => (slot > 0 ? shared.load(slot) : 0),
      enumerable: true,
    });
  }
  return backend;
}
