// "leastconn": the candidate with the fewest active connections. Ties are broken round-robin
// (a per-instance rotating counter), so equally loaded backends share the load instead of the
// first one always winning. Weight and priority are ignored, as in gobetween.
import type { Backend, ElectionContext, Strategy } from "../core/backend";

export class LeastConnStrategy implements Strategy {
  private tieCounter = 0;

  elect(candidates: readonly Backend[], _ctx: ElectionContext): Backend {
    const n = candidates.length;
    let min = candidates[0].activeConnections;
    let first = 0;
    let ties = 1;
    for (let i = 1; i < n; i++) {
      const c = candidates[i].activeConnections;
      if (c < min) {
        min = c;
        first = i;
        ties = 1;
      } else if (c === min) {
        ties++;
      }
    }
    if (ties === 1) return candidates[first];
    let k = this.tieCounter % ties;
    this.tieCounter = this.tieCounter >= 0x3fffffff ? 0 : this.tieCounter + 1;
    for (let i = first; i < n; i++) {
      if (candidates[i].activeConnections === min && k-- === 0) return candidates[i];
    }
    return candidates[first]; // unreachable
  }
}
