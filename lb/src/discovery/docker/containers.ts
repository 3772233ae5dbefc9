// Engine (and classic Swarm) containers → backends.
//   GET /containers/json?filters={"label":["<docker_container_label>"]}  (running containers)
//   For each container and each Ports entry whose PrivatePort is docker_container_private_port:
//     port = PublicPort; a container without that port published is skipped (debug log line;
//     gobetween produced "host:0" here);
//     host = the value of docker_container_host_env_var in the container's environment (one
//     inspect per container, only when the key is set), else the entry's IP when it is a real
//     address (classic Swarm reports the node's IP there), else the endpoint's host.
//   An address that is link-local, unspecified, or loopback behind a remote endpoint is skipped
//   with a line (forbiddenBackendHost): it would be the balancer's own host or the metadata service.
//   sni = container label "sni"; weight 1, priority 1; duplicates (IPv4 + IPv6 wildcard entries,
//   tcp + udp) are merged. Containers whose healthcheck says "starting" or "unhealthy" are left out
//   until it says "healthy"; paused containers are left out. Containers for which a "die" event
//   arrived are left out even while the engine still lists them as running: the engine emits
//   "die" before it marks the container stopped, so a list fetched right after the event can
//   still show it. Swarm-mode task containers are skipped here when the swarm mapping
//   (swarm.ts) covers them.
import {
  bracketHost,
  isIpLiteral,
  isLoopbackHost,
  isWildcardHost,
  unbracketHost,
} from "../../config";
import { isLinkLocalOrMetadata } from "../../config/address";
import type { BackendSpec } from "../../config/types";
import type { Notes } from "../notes";
import type { DockerClient } from "./client";

export interface ContainerSummary {
  Id: string;
  Names?: string[];
  /** Unix seconds. */
  Created?: number;
  Labels?: Record<string, string> | null;
  State?: string;
  Status?: string;
  Ports?: Array<{ IP?: string; PrivatePort?: number; PublicPort?: number; Type?: string }> | null;
}

interface ContainerInspect {
  Config?: { Env?: string[] | null };
}

export interface ContainerOptions {
  label: string;
  privatePort: number;
  hostEnvVar: string;
  /** Leave out containers that belong to swarm-mode tasks. */
  skipSwarmTasks: boolean;
  /** Container IDs known to have died (from events) that the engine may still list. */
  dead?: ReadonlySet<string>;
}

export function containerName(c: ContainerSummary): string {
  return c.Names?.[0]?.replace(/^\//, "") ?? c.Id.slice(0, 12);
}

/** Running containers carrying every label filter ("key" or "key=value"). */
export async function listContainers(
  client: DockerClient,
  labels: string[],
  signal: AbortSignal,
): Promise<ContainerSummary[]> {
  const wanted = labels.filter((l) => l !== "");
  const query = wanted.length
    ? `?filters=${encodeURIComponent(JSON.stringify({ label: wanted }))}`
    : "";
  const list = await client.get<ContainerSummary[]>(`/containers/json${query}`, signal);
  if (!Array.isArray(list)) throw new Error("docker GET /containers/json: expected a JSON array");
  return list;
}

/** True when the Docker endpoint is on the balancer's own host (a unix socket or a loopback host). */
export function isLocalEndpoint(client: DockerClient): boolean {
  return client.endpoint.target.socketPath !== undefined || isLoopbackHost(client.endpoint.host);
}

/**
 * Why the balancer must not dial `host` as a backend that a container, task or node reported, or
 * undefined when it may. A container published on 127.0.0.1 of a remote node would otherwise
 * become 127.0.0.1 of the balancer (its own Consul agent, API, metrics) served on a public port;
 * link-local holds the cloud metadata service; 0.0.0.0 and :: reach the balancer itself.
 * Loopback is allowed only when the endpoint is local, where it is the container's own binding.
 */
export function forbiddenBackendHost(host: string, localEndpoint: boolean): string | undefined {
  const h = unbracketHost(host);
  if (!localEndpoint && isLoopbackHost(h)) {
    return "loopback (the balancer's own host, not the container's)";
  }
  if (isLinkLocalOrMetadata(h)) {
    return isWildcardHost(h)
      ? "unspecified (the balancer's own host)"
      : "link-local or cloud metadata";
  }
  return undefined;
}

/** The address a published port entry is reached at (see the header). */
export function publishedHost(client: DockerClient, ip: string | undefined): string {
  return ip && !isWildcardHost(ip) && isIpLiteral(ip) ? bracketHost(ip) : client.endpoint.host;
}

export async function containerBackends(
  client: DockerClient,
  opts: ContainerOptions,
  notes: Notes,
  signal: AbortSignal,
): Promise<BackendSpec[]> {
  const list = await listContainers(client, [opts.label], signal);
  const out: BackendSpec[] = [];
  for (const c of list) {
    const name = containerName(c);
    if (opts.skipSwarmTasks && c.Labels?.["com.docker.swarm.task.id"]) continue;
    if (opts.dead?.has(c.Id)) continue;
    if (c.State !== undefined && c.State !== "running") continue;
    const status = c.Status ?? "";
    if (/\((unhealthy|health: starting)\)/.test(status)) {
      notes.note({ container: name, status }, "docker discovery: container not healthy; skipped");
      continue;
    }
    const entries = (c.Ports ?? []).filter((p) => p.PrivatePort === opts.privatePort);
    const published = entries.filter((p) => typeof p.PublicPort === "number" && p.PublicPort > 0);
    if (published.length === 0) {
      notes.note(
        { container: name, private_port: opts.privatePort },
        entries.length === 0
          ? "docker discovery: container does not expose the private port; skipped"
          : "docker discovery: container port is not published; skipped",
      );
      continue;
    }
    let envHost: string | undefined;
    if (opts.hostEnvVar) envHost = await hostFromEnv(client, c.Id, opts.hostEnvVar, signal);
    for (const p of published) {
      const host = envHost ?? publishedHost(client, p.IP);
      const forbidden = forbiddenBackendHost(host, isLocalEndpoint(client));
      if (forbidden) {
        notes.note(
          { container: name, address: host, port: p.PublicPort },
          `docker discovery: container port is published on a ${forbidden} address; skipped`,
        );
        continue;
      }
      out.push({
        host,
        port: p.PublicPort as number,
        weight: 1,
        priority: 1,
        max_connections: 0,
        sni: c.Labels?.sni ?? "",
      });
    }
  }
  return out;
}

async function hostFromEnv(
  client: DockerClient,
  id: string,
  variable: string,
  signal: AbortSignal,
): Promise<string | undefined> {
  const info = await client.get<ContainerInspect>(
    `/containers/${encodeURIComponent(id)}/json`,
    signal,
  );
  const prefix = `${variable}=`;
  const entry = info.Config?.Env?.find((e) => e.startsWith(prefix));
  const value = entry?.slice(prefix.length).trim();
  return value ? bracketHost(value) : undefined;
}
