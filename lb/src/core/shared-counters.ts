// Election counters of one server shared by every data-plane thread (`workers > 1`):
// the server's active client connections and each backend's active connections, in one
// SharedArrayBuffer updated with Atomics. Limits are enforced by incrementing first and undoing
// when the previous value was already at the limit, so concurrent threads can never overshoot
// server or backend max_connections, and leastconn sees every thread's connections.
// Byte and connection totals are not here: each thread keeps its own and the main thread sums
// them when stats are read (workers/pool.ts).

/** Slot 0 is the server's own count; backends take slots 1..BACKEND_SLOTS. */
export const BACKEND_SLOTS = 4095;
const SERVER_SLOT = 0;

export class SharedCounters {
  private readonly counts: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer = newCounterBuffer()) {
    this.counts = new Int32Array(buffer);
  }

  /** Takes one unit of `slot` unless it already holds `max` (0 = unlimited). */
  tryAcquire(slot: number, max: number): boolean {
    const before = Atomics.add(this.counts, slot, 1);
    if (max > 0 && before >= max) {
      Atomics.sub(this.counts, slot, 1);
      return false;
    }
    return true;
  }

  release(slot: number): void {
    Atomics.sub(this.counts, slot, 1);
  }

  load(slot: number): number {
    return Atomics.load(this.counts, slot);
  }

  tryAcquireServer(max: number): boolean {
    return this.tryAcquire(SERVER_SLOT, max);
  }

  releaseServer(): void {
    this.release(SERVER_SLOT);
  }

  get serverActive(): number {
    return this.load(SERVER_SLOT);
  }
}

export function newCounterBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer((BACKEND_SLOTS + 1) * Int32Array.BYTES_PER_ELEMENT);
}

/**
 * Hands out backend slots on the main thread. A freed slot is reused only once every worker has
 * applied a backend list without it (so no thread can elect it any more) and its count is back
 * to zero (so no straggling connection will decrement it later).
 */
export class SlotAllocator {
  private next = 1;
  private readonly quarantine: Array<{ slot: number; version: number }> = [];
  private readonly free: number[] = [];

  constructor(private readonly counters: SharedCounters) {}

  /** A slot for a new backend, or 0 when all BACKEND_SLOTS are taken. */
  allocate(appliedByAll: number): number {
    this.recycle(appliedByAll);
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.next > BACKEND_SLOTS) return 0;
    return this.next++;
  }

  /** `slot` left the backend list published as `version`. */
  retire(slot: number, version: number): void {
    if (slot > 0) this.quarantine.push({ slot, version });
  }

  private recycle(appliedByAll: number): void {
    for (let i = this.quarantine.length - 1; i >= 0; i--) {
      const q = this.quarantine[i];
      if (q.version <= appliedByAll && this.counters.load(q.slot) === 0) {
        this.free.push(q.slot);
        this.quarantine.splice(i, 1);
      }
    }
  }
}
