// From labelled containers and services to the servers they ask for: pure, no Docker, no sockets.
//
// Rules (docs/lb.md, "Entry points from container labels"):
// - Every container or service whose labels are valid and that has at least one reachable
//   instance joins the group of its `port`. One group = one server; its backends are every
//   instance of every member.
// - A port outside port_range, or used by anything else of the balancer (a config-file or API
//   server, the API, the metrics endpoint), is refused for every member.
// - Members of one port must ask for the same server (protocol, balance, healthcheck,
//   max_connections, proxy_protocol, access); `weight` and `target` are per member. When they do
//   not, the settings the running server already has win (a late or mistaken container never
//   takes a serving port over); with no server yet, the oldest member's settings win. The others
//   are refused, naming the first label that differs.
// - A published port at an address the balancer must not dial (loopback of a remote node, which
//   would be the balancer's own host; link-local; 0.0.0.0) is refused, naming its address; so is
//   one outside backend_port_range when that is set.
import {
  formatBackendLine,
  type LabelOptions,
  type LabelProblem,
  type LabelRequest,
  parseLabels,
} from "../../config";
import type { BackendSpec, Protocol, ServerConfig } from "../../config/types";
import type { Refusal } from "../../core/provided";
import { forbiddenBackendHost } from "../../discovery/docker/containers";

/** One published port of an instance. */
export interface PublishedPort {
  host: string;
  privatePort: number;
  publicPort: number;
  protocol: Protocol;
}

/** A container, or a service with its running tasks (its instances). */
export interface Candidate {
  source: "container" | "service";
  name: string;
  id: string;
  /** When it was created (ms since the epoch): the oldest member's settings win a port. */
  created: number;
  labels: Record<string, string>;
  /** Each running instance's published ports (a container has one instance). */
  instances: Array<{ name: string; ports: PublishedPort[] }>;
}

export interface PlannedServer {
  port: number;
  protocol: Protocol;
  /** The settings, with the members' backends as its static list. */
  config: ServerConfig;
  members: string[];
  backends: BackendSpec[];
}

export interface Plan {
  servers: Map<number, PlannedServer>;
  refusals: Refusal[];
}

export interface PlanContext {
  labels: LabelOptions;
  /** What else of the balancer uses the port, or undefined when it is free. */
  portUser: (port: number) => string | undefined;
  /** The settings of the server each port is served with now (its static list ignored). */
  current: (port: number) => ServerConfig | undefined;
  /**
   * The Docker endpoint is on the balancer's host (unix socket, loopback): a port published on
   * loopback is then the container's own. Default false: such a port is refused.
   */
  localEndpoint?: boolean;
  /** Host ports a backend may be published on (`backend_port_range`). Default: any. */
  backendPorts?: { first: number; last: number };
}

interface Member {
  candidate: Candidate;
  request: LabelRequest;
  backends: BackendSpec[];
}

/** The settings part of a server config: what the members of one port must agree on. */
export function settingsKey(cfg: ServerConfig): string {
  return JSON.stringify({ ...cfg, discovery: null });
}

/** Settings compared to find the label that differs, in the order they are reported. */
const SETTINGS: Array<[keyof ServerConfig, string]> = [
  ["protocol", "protocol"],
  ["balance", "balance"],
  ["healthcheck", "healthcheck"],
  ["max_connections", "max_connections"],
  ["proxy_protocol", "proxy_protocol"],
  ["access", "access"],
];

function describe(cfg: ServerConfig, key: keyof ServerConfig): string {
  const v = cfg[key];
  if (key === "healthcheck") {
    const h = cfg.healthcheck;
    return h.kind === "none"
      ? "none"
      : `${h.kind} every ${h.interval}, fails ${h.fails}, passes ${h.passes}`;
  }
  if (key === "access")
    return cfg.access ? `${cfg.access.rules.join(",")} default ${cfg.access.default}` : "none";
  if (key === "proxy_protocol") return cfg.proxy_protocol?.version ?? "none";
  return String(v);
}

/** Picks each instance's published port for the member's protocol and target. */
function backendsOf(
  c: Candidate,
  req: LabelRequest,
  prefix: string,
  ctx: PlanContext,
  refuse: (label: string, value: string, problem: string) => void,
): BackendSpec[] {
  const out: BackendSpec[] = [];
  for (const inst of c.instances) {
    const ports = inst.ports.filter((p) => p.protocol === req.protocol);
    const privates = [...new Set(ports.map((p) => p.privatePort))].sort((a, b) => a - b);
    let target = req.target;
    if (target === undefined) {
      if (privates.length > 1) {
        refuse(
          `${prefix}target`,
          "",
          `required: ${inst.name} publishes several ${req.protocol} ports (${privates.join(", ")}); name the one to balance`,
        );
        continue;
      }
      target = privates[0];
    }
    const published = ports.filter((p) => p.privatePort === target && p.publicPort > 0);
    if (target === undefined || published.length === 0) {
      refuse(
        `${prefix}target`,
        req.target === undefined ? "" : String(req.target),
        c.source === "service"
          ? `expected a ${req.protocol} port published in host mode (--publish mode=host,target=…), ${inst.name} has ${target === undefined ? "none" : `none for ${target}`}`
          : `expected a published ${req.protocol} port (docker run -p …:${target ?? "PORT"}), ${inst.name} has ${target === undefined ? "none" : `none for ${target}`}`,
      );
      continue;
    }
    for (const p of published) {
      const range = ctx.backendPorts;
      if (range && (p.publicPort < range.first || p.publicPort > range.last)) {
        refuse(
          `${prefix}target`,
          `${p.host}:${p.publicPort}`,
          `expected port ${target} published on a host port in ${range.first}-${range.last} (providers.docker.backend_port_range), the ports the balancer may reach; ${inst.name} publishes it on ${p.host}:${p.publicPort}`,
        );
        continue;
      }
      const forbidden = forbiddenBackendHost(p.host, ctx.localEndpoint ?? false);
      if (forbidden) {
        refuse(
          `${prefix}target`,
          `${p.host}:${p.publicPort}`,
          `expected port ${target} published on an address the balancer reaches the container at; ${inst.name} publishes it on ${p.host}:${p.publicPort}, which is ${forbidden}`,
        );
        continue;
      }
      out.push({
        host: p.host,
        port: p.publicPort,
        weight: req.weight,
        priority: 1,
        max_connections: 0,
        sni: "",
      });
    }
  }
  return out;
}

export function plan(candidates: Candidate[], ctx: PlanContext): Plan {
  const refusals: Refusal[] = [];
  const { prefix } = ctx.labels;
  const byPort = new Map<number, Member[]>();
  const sorted = [...candidates].sort(
    (a, b) => a.created - b.created || a.name.localeCompare(b.name) || a.id.localeCompare(b.id),
  );
  for (const c of sorted) {
    const refuse = (label: string, value: string, problem: string, port?: number): void => {
      refusals.push({
        source: c.source,
        name: c.name,
        label,
        value,
        problem,
        ...(port ? { port } : {}),
      });
    };
    const parsed = parseLabels(c.labels, ctx.labels);
    if (parsed.problems) {
      const port = Number(c.labels[`${prefix}port`]) || undefined;
      for (const p of parsed.problems as LabelProblem[]) refuse(p.label, p.value, p.problem, port);
      continue;
    }
    const req = parsed.request;
    const backends = backendsOf(c, req, prefix, ctx, (l, v, p) => refuse(l, v, p, req.port));
    if (backends.length === 0) continue;
    const user = ctx.portUser(req.port);
    if (user) {
      refuse(
        `${prefix}port`,
        String(req.port),
        `expected a port no other listener of the balancer uses; ${req.port} is used by ${user}`,
        req.port,
      );
      continue;
    }
    const list = byPort.get(req.port) ?? [];
    list.push({ candidate: c, request: req, backends });
    byPort.set(req.port, list);
  }

  const servers = new Map<number, PlannedServer>();
  for (const [port, members] of byPort) {
    const current = ctx.current(port);
    const currentKey = current ? settingsKey(current) : undefined;
    const keys = members.map((m) => settingsKey(m.request.server));
    const winnerKey = currentKey && keys.includes(currentKey) ? currentKey : keys[0];
    const winner = members[keys.indexOf(winnerKey)];
    const accepted: Member[] = [];
    members.forEach((m, i) => {
      if (keys[i] === winnerKey) {
        accepted.push(m);
        return;
      }
      const [field, label] =
        SETTINGS.find(
          ([f]) => JSON.stringify(m.request.server[f]) !== JSON.stringify(winner.request.server[f]),
        ) ?? SETTINGS[0];
      refusals.push({
        source: m.candidate.source,
        name: m.candidate.name,
        label: `${prefix}${label}`,
        value: m.candidate.labels[`${prefix}${label}`] ?? "",
        problem: `port ${port} is served with other settings (${label} ${describe(winner.request.server, field)}, from ${winner.candidate.source} ${winner.candidate.name}; this one asks for ${describe(m.request.server, field)}): use the same labels or another port`,
        port,
      });
    });
    const seen = new Set<string>();
    const backends: BackendSpec[] = [];
    for (const m of accepted) {
      for (const b of m.backends) {
        const key = `${b.host}:${b.port}`;
        if (seen.has(key)) continue;
        seen.add(key);
        backends.push(b);
      }
    }
    backends.sort((a, b) => `${a.host}:${a.port}`.localeCompare(`${b.host}:${b.port}`));
    const config: ServerConfig = {
      ...winner.request.server,
      discovery: {
        ...winner.request.server.discovery,
        static_list: backends.map(formatBackendLine),
      },
    };
    servers.set(port, {
      port,
      protocol: winner.request.protocol,
      config,
      members: accepted.map((m) => `${m.candidate.source} ${m.candidate.name}`),
      backends,
    });
  }
  return { servers, refusals };
}
