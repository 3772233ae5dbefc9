// "leastbandwidth": the candidate with the lowest rxSecond + txSecond (bytes per second over the
// last 2 s window, so the figure is up to 2 s stale, as in gobetween). Ties are broken at random.
// Weight and priority are ignored.
import type { Backend, ElectionContext, Strategy } from "../core/backend";

export class LeastBandwidthStrategy implements Strategy {
  constructor(private readonly random: () => number = Math.random) {}

  elect(candidates: readonly Backend[], _ctx: ElectionContext): Backend {
    const n = candidates.length;
    let min = candidates[0].rxSecond + candidates[0].txSecond;
    let first = 0;
    let ties = 1;
    for (let i = 1; i < n; i++) {
      const b = candidates[i];
      const bw = b.rxSecond + b.txSecond;
      if (bw < min) {
        min = bw;
        first = i;
        ties = 1;
      } else if (bw === min) {
        ties++;
      }
    }
    if (ties === 1) return candidates[first];
    let k = Math.floor(this.random() * ties) % ties;
    for (let i = first; i < n; i++) {
      const b = candidates[i];
      if (b.rxSecond + b.txSecond === min && k-- === 0) return b;
    }
    return candidates[first]; // unreachable
  }
}
