// The port-range side of `geoswarm:balancer.labels` (entry points from container labels): the
// range's grammar, and what it may not overlap on the balancer. The schema is in ./config.ts.
import type { ClusterSpec } from "./config";
import { DOCKER_PUBLISHED_PORTS } from "./flows";

/** `"low-high"`, inclusive, as geoswarm-lb's `[providers.docker] port_range`. */
export const LABELS_PORT_RANGE = /^(\d{1,5})-(\d{1,5})$/;

/** Parses a validated `"low-high"` port range. */
export function parsePortRange(range: string): [number, number] {
  const m = LABELS_PORT_RANGE.exec(range);
  if (!m) throw new Error(`port range "${range}" is not "low-high"`);
  return [Number(m[1]), Number(m[2])];
}

/** geoswarm-lb's default `[metrics] bind` port: kept free for the day metrics are enabled. */
export const LB_METRICS_PORT = 9284;

/**
 * What the labels' port range may not contain: SSH, the balancer's Consul ports (`reserved`), the
 * API, the metrics and the entry points' ports; nor overlap the ephemeral ports. Empty when the
 * labels are off. `keyPath` names config keys as `geoswarm:<path>`.
 */
export function labelRangeProblems(
  spec: ClusterSpec,
  keyPath: (path: (string | number)[]) => string,
  reserved: readonly number[],
): string[] {
  const { enabled, portRange } = spec.balancer.labels;
  if (!enabled) return [];
  const [lo, hi] = parsePortRange(portRange);
  const key = keyPath(["balancer", "labels", "portRange"]);
  const problems: string[] = [];
  const taken: [number, string][] = [
    ...reserved.map((p): [number, string] => [
      p,
      p === 22 ? "SSH" : "the balancer's Consul agent and `consul` server",
    ]),
    [spec.balancer.apiPort, `the REST API (${keyPath(["balancer", "apiPort"])})`],
    [LB_METRICS_PORT, "geoswarm-lb's metrics"],
    ...spec.entryPoints.map((e, i): [number, string] => [
      e.lbPort,
      `entry point ${e.name} (${keyPath(["entryPoints", i, "lbPort"])})`,
    ]),
  ];
  for (const [port, what] of taken) {
    if (lo <= port && port <= hi) {
      problems.push(
        `${key}: "${portRange}" contains port ${port}, used by ${what}; expected a range without it`,
      );
    }
  }
  const [ephemeralLo, ephemeralHi] = DOCKER_PUBLISHED_PORTS;
  if (lo <= ephemeralHi && ephemeralLo <= hi) {
    problems.push(
      `${key}: "${portRange}" overlaps ${ephemeralLo}-${ephemeralHi}, the kernel's ephemeral ports (Docker's published ports, the balancer's own outgoing connections); expected a range below ${ephemeralLo}, e.g. "20000-20999"`,
    );
  }
  return problems;
}
