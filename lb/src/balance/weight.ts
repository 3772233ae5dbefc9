// "weight" (gobetween's default): RFC 2782-style selection.
// Only the group with the lowest priority number is considered; in it, a random pick
// proportional to weight. Weight-0 members are never picked while any member has weight > 0;
// a group whose weights are all 0 is picked uniformly. Backends with a negative priority or
// weight are ignored; if every candidate is invalid the pick is uniform over all candidates
// (gobetween panics there). Priority groups act as failover tiers because the table filters
// out dead / disabled / full backends before the election.
// Two passes over the candidates, one Math.random() call, no allocation.
import type { Backend, ElectionContext, Strategy } from "../core/backend";

export class WeightStrategy implements Strategy {
  constructor(private readonly random: () => number = Math.random) {}

  elect(candidates: readonly Backend[], _ctx: ElectionContext): Backend {
    const n = candidates.length;
    let bestPriority = Number.POSITIVE_INFINITY;
    let total = 0;
    let members = 0;
    for (let i = 0; i < n; i++) {
      const b = candidates[i];
      const p = b.priority;
      const w = b.weight;
      if (!(p >= 0) || !(w >= 0)) continue; // also rejects NaN
      if (p < bestPriority) {
        bestPriority = p;
        total = w;
        members = 1;
      } else if (p === bestPriority) {
        total += w;
        members++;
      }
    }
    if (members === 0) return candidates[Math.floor(this.random() * n) % n];

    if (total > 0 && Number.isFinite(total)) {
      const r = this.random() * total;
      let acc = 0;
      let last: Backend | undefined;
      for (let i = 0; i < n; i++) {
        const b = candidates[i];
        const w = b.weight;
        if (b.priority !== bestPriority || !(w > 0)) continue;
        acc += w;
        if (r < acc) return b;
        last = b;
      }
      // Floating-point rounding can leave r == total: the last positive member takes it.
      if (last) return last;
    }

    // All weights 0 in the best group: uniform over its members.
    let k = Math.floor(this.random() * members) % members;
    for (let i = 0; i < n; i++) {
      const b = candidates[i];
      if (b.priority !== bestPriority || !(b.weight >= 0)) continue;
      if (k-- === 0) return b;
    }
    return candidates[0]; // unreachable
  }
}
