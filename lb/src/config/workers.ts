// `workers`: what the setting allows and what it needs of the runtime. Shared by the balancer
// (refuses to start) and the Pulumi Balancer component (refuses to deploy).

/** Data-plane threads are for cores; more than this is a typo, not a machine. */
export const MAX_WORKERS = 64;

/** SO_REUSEPORT in net.Server.listen arrived in Node 22.12 (22.x line) and 23.1. */
export function nodeSupportsWorkers(version: string): boolean {
  const [major, minor] = version.replace(/^v/, "").split(".").map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}
