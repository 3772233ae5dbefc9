// "iphash": FNV-1a-32 over the client IP's raw bytes (4 for IPv4, 16 for IPv6), index = hash mod
// N over the candidates (sorted by key). Sticky while the candidate set is stable; any change in
// the set remaps most clients (use iphash1 for stability). The client port is not hashed.
import type { Backend, ElectionContext, Strategy } from "../core/backend";
import { hashIp } from "./fnv";

export class IpHashStrategy implements Strategy {
  elect(candidates: readonly Backend[], ctx: ElectionContext): Backend {
    return candidates[hashIp(ctx.clientIp) % candidates.length];
  }
}
