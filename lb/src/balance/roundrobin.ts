// "roundrobin": a per-strategy-instance counter over the candidates, which arrive sorted by key
// (gobetween sorts by the `host:port` string, so `10.0.0.10:80` comes before `10.0.0.2:80`).
// Robust to membership changes: the index is taken modulo the current length.
// Weight and priority are ignored, as in gobetween.
import type { Backend, ElectionContext, Strategy } from "../core/backend";

export class RoundRobinStrategy implements Strategy {
  private next = 0;

  elect(candidates: readonly Backend[], _ctx: ElectionContext): Backend {
    const n = candidates.length;
    const i = this.next < n ? this.next : this.next % n;
    this.next = i + 1;
    return candidates[i];
  }
}
