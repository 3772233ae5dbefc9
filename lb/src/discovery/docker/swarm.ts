// Swarm mode: when the endpoint is a swarm manager, the running tasks of the services that carry
// docker_container_label (on the service or on its container spec) are backends.
//   GET /services, GET /tasks?filters={"desired-state":["running"]}, GET /nodes (manager only)
//   task → host = its node's Status.Addr (the endpoint's host when the node reports 0.0.0.0),
//          port = the PublishedPort of its Status.PortStatus entry with TargetPort =
//          docker_container_private_port and PublishMode "host".
//   Only tasks in state "running" on nodes in state "ready" count. A task whose port is published
//   through the ingress routing mesh has no per-task port and is skipped with a debug line.
//   sni = service label "sni", else container label "sni".
//   A node address that is link-local or unspecified, or loopback behind a remote endpoint, is
//   skipped (containers.ts, forbiddenBackendHost).
import { bracketHost, isWildcardHost } from "../../config";
import type { BackendSpec } from "../../config/types";
import type { Notes } from "../notes";
import { type DockerClient, labelMatches } from "./client";
import { forbiddenBackendHost, isLocalEndpoint } from "./containers";

export interface Service {
  ID: string;
  CreatedAt?: string;
  Spec?: {
    Name?: string;
    Labels?: Record<string, string> | null;
    TaskTemplate?: { ContainerSpec?: { Labels?: Record<string, string> | null } };
  };
}

export interface Task {
  ID: string;
  Slot?: number;
  ServiceID?: string;
  NodeID?: string;
  DesiredState?: string;
  Status?: {
    State?: string;
    PortStatus?: {
      Ports?: Array<{
        Protocol?: string;
        TargetPort?: number;
        PublishedPort?: number;
        PublishMode?: string;
      }> | null;
    };
  };
}

export interface SwarmNode {
  ID: string;
  Description?: { Hostname?: string };
  Status?: { State?: string; Addr?: string };
}

export interface DockerInfo {
  Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean };
}

export function isSwarmManager(info: DockerInfo): boolean {
  return info.Swarm?.LocalNodeState === "active" && info.Swarm?.ControlAvailable === true;
}

export interface SwarmState {
  services: Service[];
  /** Tasks whose desired state is "running" (not necessarily running yet). */
  tasks: Task[];
  nodes: SwarmNode[];
}

/** One look at a manager: services, the tasks meant to run, nodes. */
export async function swarmState(client: DockerClient, signal: AbortSignal): Promise<SwarmState> {
  const runningFilter = encodeURIComponent(JSON.stringify({ "desired-state": ["running"] }));
  const [services, tasks, nodes] = await Promise.all([
    client.get<Service[]>("/services", signal),
    client.get<Task[]>(`/tasks?filters=${runningFilter}`, signal),
    client.get<SwarmNode[]>("/nodes", signal),
  ]);
  for (const [what, v] of [
    ["services", services],
    ["tasks", tasks],
    ["nodes", nodes],
  ] as const) {
    if (!Array.isArray(v)) throw new Error(`docker GET /${what}: expected a JSON array`);
  }
  return { services, tasks, nodes };
}

/** The address a task's published ports are reached at: its node's, else the endpoint's host. */
export function nodeHost(client: DockerClient, node: SwarmNode): string {
  const addr = node.Status?.Addr ?? "";
  return addr === "" || isWildcardHost(addr) ? client.endpoint.host : bracketHost(addr);
}

export async function taskBackends(
  client: DockerClient,
  opts: { label: string; privatePort: number },
  notes: Notes,
  signal: AbortSignal,
): Promise<BackendSpec[]> {
  const { services, tasks, nodes } = await swarmState(client, signal);
  const wanted = new Map<string, Service>();
  for (const s of services) {
    const ok =
      labelMatches(s.Spec?.Labels, opts.label) ||
      labelMatches(s.Spec?.TaskTemplate?.ContainerSpec?.Labels, opts.label);
    if (ok) wanted.set(s.ID, s);
  }
  const nodeById = new Map(nodes.map((n) => [n.ID, n]));
  const out: BackendSpec[] = [];
  for (const t of tasks) {
    const service = t.ServiceID ? wanted.get(t.ServiceID) : undefined;
    if (!service || t.Status?.State !== "running") continue;
    const node = t.NodeID ? nodeById.get(t.NodeID) : undefined;
    const where = { service: service.Spec?.Name ?? service.ID, task: t.ID };
    if (node?.Status?.State !== "ready") {
      notes.note(
        { ...where, node: node?.Description?.Hostname ?? t.NodeID, state: node?.Status?.State },
        "docker discovery: task's node is not ready; skipped",
      );
      continue;
    }
    const ports = (t.Status.PortStatus?.Ports ?? []).filter(
      (p) => p.TargetPort === opts.privatePort && p.PublishMode === "host" && p.PublishedPort,
    );
    if (ports.length === 0) {
      notes.note(
        { ...where, private_port: opts.privatePort },
        "docker discovery: task has no host-mode published port for the private port; skipped",
      );
      continue;
    }
    const host = nodeHost(client, node);
    const forbidden = forbiddenBackendHost(host, isLocalEndpoint(client));
    if (forbidden) {
      notes.note(
        { ...where, node: node.Description?.Hostname ?? t.NodeID, address: host },
        `docker discovery: task's node has a ${forbidden} address; skipped`,
      );
      continue;
    }
    const sni =
      service.Spec?.Labels?.sni ?? service.Spec?.TaskTemplate?.ContainerSpec?.Labels?.sni ?? "";
    for (const p of ports) {
      out.push({
        host,
        port: p.PublishedPort as number,
        weight: 1,
        priority: 1,
        max_connections: 0,
        sni,
      });
    }
  }
  return out;
}
