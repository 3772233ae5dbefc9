// One look at the Docker endpoint: the labelled containers and, on a swarm-mode manager, the
// labelled services with their running tasks, as plan.ts candidates.
//   Containers: running, not paused, not "starting"/"unhealthy" by their own healthcheck, not
//   known dead from events (the engine lists a container a moment after its "die"); on a manager
//   the containers of swarm tasks are left to their service. Ports: every published entry, at the
//   entry's IP when it is a real address (classic Swarm reports the node's), else the endpoint's.
//   Services: labels of the service over those of its container spec; instances are the tasks in
//   state "running" on "ready" nodes, at their node's address and host-mode published ports.
import { hasLabels } from "../../config";
import type { DockerClient } from "../../discovery/docker/client";
import { labelMatches } from "../../discovery/docker/client";
import { containerName, listContainers, publishedHost } from "../../discovery/docker/containers";
import { nodeHost, swarmState } from "../../discovery/docker/swarm";
import type { Candidate, PublishedPort } from "./plan";

export interface ScanOptions {
  prefix: string;
  filter: string;
  /** The endpoint is a swarm-mode manager. */
  swarm: boolean;
  dead: ReadonlySet<string>;
}

function protocolOf(t: string | undefined): "tcp" | "udp" | undefined {
  return t === "tcp" || t === "udp" ? t : undefined;
}

export async function scanContainers(
  client: DockerClient,
  opts: ScanOptions,
  signal: AbortSignal,
): Promise<Candidate[]> {
  const list = await listContainers(client, [opts.filter], signal);
  const out: Candidate[] = [];
  for (const c of list) {
    const labels = c.Labels ?? {};
    if (!hasLabels(labels, opts.prefix)) continue;
    if (opts.swarm && labels["com.docker.swarm.task.id"]) continue;
    if (opts.dead.has(c.Id)) continue;
    if (c.State !== undefined && c.State !== "running") continue;
    const healthy = !/\((unhealthy|health: starting)\)/.test(c.Status ?? "");
    const name = containerName(c);
    const ports: PublishedPort[] = [];
    for (const p of c.Ports ?? []) {
      const protocol = protocolOf(p.Type);
      if (!protocol || typeof p.PrivatePort !== "number") continue;
      ports.push({
        host: publishedHost(client, p.IP),
        privatePort: p.PrivatePort,
        publicPort: typeof p.PublicPort === "number" ? p.PublicPort : 0,
        protocol,
      });
    }
    out.push({
      source: "container",
      name,
      id: c.Id,
      created: (c.Created ?? 0) * 1000,
      labels,
      instances: healthy ? [{ name: `container ${name}`, ports }] : [],
    });
  }
  return out;
}

export async function scanServices(
  client: DockerClient,
  opts: ScanOptions,
  signal: AbortSignal,
): Promise<Candidate[]> {
  const { services, tasks, nodes } = await swarmState(client, signal);
  const nodeById = new Map(nodes.map((n) => [n.ID, n]));
  const out = new Map<string, Candidate>();
  for (const s of services) {
    const labels = {
      ...(s.Spec?.TaskTemplate?.ContainerSpec?.Labels ?? {}),
      ...(s.Spec?.Labels ?? {}),
    };
    if (!hasLabels(labels, opts.prefix) || !labelMatches(labels, opts.filter)) continue;
    const created = Date.parse(s.CreatedAt ?? "");
    out.set(s.ID, {
      source: "service",
      name: s.Spec?.Name ?? s.ID,
      id: s.ID,
      created: Number.isNaN(created) ? 0 : created,
      labels,
      instances: [],
    });
  }
  for (const t of tasks) {
    const service = t.ServiceID ? out.get(t.ServiceID) : undefined;
    if (!service || t.Status?.State !== "running") continue;
    const node = t.NodeID ? nodeById.get(t.NodeID) : undefined;
    if (node?.Status?.State !== "ready") continue;
    const host = nodeHost(client, node);
    const ports: PublishedPort[] = [];
    for (const p of t.Status.PortStatus?.Ports ?? []) {
      const protocol = protocolOf(p.Protocol ?? "tcp");
      if (!protocol || p.PublishMode !== "host" || typeof p.TargetPort !== "number") continue;
      ports.push({
        host,
        privatePort: p.TargetPort,
        publicPort: p.PublishedPort ?? 0,
        protocol,
      });
    }
    const where = node.Description?.Hostname ?? node.ID;
    service.instances.push({
      name: `task ${service.name}.${t.Slot ?? t.ID.slice(0, 12)} on ${where}`,
      ports,
    });
  }
  return [...out.values()];
}
