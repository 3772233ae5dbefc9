// "iphash1": rendezvous (highest random weight) hashing. Each candidate scores
// FNV-1a-32(client IP bytes ‖ UTF-8 key `host:port`); the highest score wins (ties: the first in
// key order). Removing or failing a backend moves only its own clients, which come back when it
// returns; adding a backend takes ≈1/N of the clients. Weight and priority are ignored.
import type { Backend, ElectionContext, Strategy } from "../core/backend";
import { fnvString, hashIp } from "./fnv";

export class IpHash1Strategy implements Strategy {
  elect(candidates: readonly Backend[], ctx: ElectionContext): Backend {
    const ipState = hashIp(ctx.clientIp);
    const n = candidates.length;
    let best = candidates[0];
    let bestScore = fnvString(ipState, best.key);
    for (let i = 1; i < n; i++) {
      const b = candidates[i];
      const score = fnvString(ipState, b.key);
      if (score > bestScore) {
        bestScore = score;
        best = b;
      }
    }
    return best;
  }
}
