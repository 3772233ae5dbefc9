// Balancing strategies by their gobetween names. Each call returns a fresh instance: stateful
// strategies (roundrobin, leastconn tie-breaking) keep their counters per instance, i.e. per
// server.
import type { BalanceStrategy } from "../config/types";
import type { Strategy } from "../core/backend";
import { IpHashStrategy } from "./iphash";
import { IpHash1Strategy } from "./iphash1";
import { LeastBandwidthStrategy } from "./leastbandwidth";
import { LeastConnStrategy } from "./leastconn";
import { RoundRobinStrategy } from "./roundrobin";
import { WeightStrategy } from "./weight";

export {
  IpHash1Strategy,
  IpHashStrategy,
  LeastBandwidthStrategy,
  LeastConnStrategy,
  RoundRobinStrategy,
  WeightStrategy,
};

export function createStrategy(name: BalanceStrategy): Strategy {
  switch (name) {
    case "weight":
      return new WeightStrategy();
    case "roundrobin":
      return new RoundRobinStrategy();
    case "leastconn":
      return new LeastConnStrategy();
    case "leastbandwidth":
      return new LeastBandwidthStrategy();
    case "iphash":
      return new IpHashStrategy();
    case "iphash1":
      return new IpHash1Strategy();
    default:
      throw new Error(`unknown balance strategy ${JSON.stringify(name)}`);
  }
}
