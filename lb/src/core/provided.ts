// Servers made by a provider (the docker-labels provider, lb/src/providers) rather than by the
// config file or the API: what the balancer, the API, the dashboard and the metrics know of them.

/** Where a provider's servers come from; shown as `origin` in the API. */
export type ServerOrigin = "docker-labels";

/** A container, service or label the provider could not use; shown until it changes. */
export interface Refusal {
  /** "container" (engine, classic Swarm) or "service" (swarm mode). */
  source: "container" | "service";
  /** The container's or service's name. */
  name: string;
  /** The full label key at fault, such as "geoswarm.lb.port". */
  label: string;
  /** The label's value ("" when absent). */
  value: string;
  /** What is wrong and what was expected. */
  problem: string;
  /** The listen port asked for, when known. */
  port?: number;
}

export interface ProvidedServerStatus {
  name: string;
  port: number;
  protocol: "tcp" | "udp";
  /** Containers ("container <name>") and services ("service <name>") serving it. */
  members: string[];
  backends: number;
  /** Set while the server has no container left: when its listener closes (ISO 8601). */
  draining_until?: string;
}

export interface ProviderStatus {
  origin: ServerOrigin;
  endpoint: string;
  /** "engine" (a Docker engine or classic Swarm), "swarm" (a swarm-mode manager), or "unknown". */
  mode: "engine" | "swarm" | "unknown";
  /** The last fetch's error, when it failed (the servers keep their last backends). */
  error?: string;
  label_prefix: string;
  port_range: string;
  servers: ProvidedServerStatus[];
  refusals: Refusal[];
}

export interface ServerProvider {
  status(): ProviderStatus;
}

/** A refusal as one line of text (the log, the dashboard). */
export function refusalText(r: Refusal): string {
  const value = r.value === "" ? "" : `=${JSON.stringify(r.value)}`;
  return `${r.source} ${r.name}: label ${r.label}${value}: ${r.problem}`;
}
