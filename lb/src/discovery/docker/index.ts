// "docker": backends from a Docker engine, classic Swarm, or a swarm-mode manager.
//   Pull: every fetch asks /info whether the endpoint is a swarm manager, lists the labelled
//   containers (containers.ts) and, on a manager, the labelled services' running tasks
//   (swarm.ts); the union, de-duplicated by host:port, is the backend list.
//   Push: the watcher follows GET /events. A container start, die, stop, destroy, pause, unpause
//   or health_status event of a matching container, or any service or node event, triggers an
//   immediate full fetch. When the stream is down (or the endpoint has no events) the runner polls
//   every DOCKER_POLL_MS and reconnects with backoff; on a swarm manager tasks are polled every
//   DOCKER_POLL_MS anyway, because task state changes on other nodes produce no events there.
import type { BackendSpec, DiscoveryConfig } from "../../config/types";
import type { Logger } from "../../log/logger";
import { Notes } from "../notes";
import type { DiscoverySource } from "../runner";
import { DockerClient, type DockerEvent, labelMatches, parseDockerEndpoint } from "./client";
import { containerBackends } from "./containers";
import { type DockerInfo, isSwarmManager, taskBackends } from "./swarm";

/** Poll period while the event stream is down, and for swarm-mode tasks. */
export const DOCKER_POLL_MS = 1000;

const CONTAINER_ACTIONS = new Set(["start", "die", "stop", "destroy", "pause", "unpause"]);
/** How long a "die" event keeps a container out of the list (the engine catches up in ms). */
const DEAD_TTL_MS = 30_000;

export function dockerSource(cfg: DiscoveryConfig, log: Logger): DiscoverySource {
  const endpoint = parseDockerEndpoint(cfg);
  if (endpoint.insecure) {
    log.warn(
      { docker_endpoint: cfg.docker_endpoint },
      "docker discovery: TLS without docker_tls_cacert_path; the server certificate is not verified",
    );
  }
  const client = new DockerClient(endpoint);
  const label = (cfg.docker_container_label as string | undefined) ?? "";
  const privatePort = cfg.docker_container_private_port as number;
  const hostEnvVar = (cfg.docker_container_host_env_var as string | undefined) ?? "";
  const notes = new Notes(log, "debug");
  let swarm = false;
  /** Container id → when its "die" event arrived. */
  const dead = new Map<string, number>();

  const fetch = async (signal: AbortSignal): Promise<BackendSpec[]> => {
    const info = await client.get<DockerInfo>("/info", signal);
    const manager = isSwarmManager(info);
    if (manager !== swarm) {
      log.info({ swarm_manager: manager }, "docker discovery: endpoint mode");
      swarm = manager;
    }
    const now = Date.now();
    for (const [id, at] of dead) if (now - at > DEAD_TTL_MS) dead.delete(id);
    notes.begin();
    const [containers, tasks] = await Promise.all([
      containerBackends(
        client,
        { label, privatePort, hostEnvVar, skipSwarmTasks: manager, dead: new Set(dead.keys()) },
        notes,
        signal,
      ),
      manager ? taskBackends(client, { label, privatePort }, notes, signal) : [],
    ]);
    notes.end();
    const seen = new Set<string>();
    return [...tasks, ...containers].filter((b) => {
      const key = `${b.host}:${b.port}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  };

  const relevant = (e: DockerEvent): boolean => {
    const type = e.Type ?? "";
    const action = e.Action ?? e.status ?? "";
    if (type === "service" || type === "node") return true;
    if (type !== "container") return false;
    const base = action.split(":")[0];
    if (!CONTAINER_ACTIONS.has(base) && base !== "health_status") return false;
    if (!labelMatches(e.Actor?.Attributes, label)) return false;
    const id = e.Actor?.ID;
    if (id && (base === "die" || base === "stop" || base === "destroy")) dead.set(id, Date.now());
    if (id && base === "start") dead.delete(id);
    return true;
  };

  return {
    fetch,
    watch: (ctx) =>
      client.events(
        ctx.signal,
        () => ctx.connected(),
        (e) => {
          if (relevant(e)) ctx.refresh();
        },
      ),
    pollHintMs: () => (swarm ? DOCKER_POLL_MS : undefined),
    close: () => client.close(),
  };
}
