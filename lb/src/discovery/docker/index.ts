// "docker": backends from a Docker engine, classic Swarm, or a swarm-mode manager.
//   Pull: every fetch asks /info whether the endpoint is a swarm manager, lists the labelled
//   containers (containers.ts) and, on a manager, the labelled services' running tasks
//   (swarm.ts); the union, de-duplicated by host:port, is the backend list.
//   Push: the watcher follows GET /events. A container start, die, stop, destroy, pause, unpause
//   or health_status event of a matching container, or any service or node event, triggers an
//   immediate full fetch. When the stream is down (or the endpoint has no events) the runner polls
//   every DOCKER_POLL_MS and reconnects with backoff; on a swarm manager tasks are polled anyway
//   (task state changes on other nodes produce no events there): every DOCKER_POLL_MS, faster for
//   a while after a service event (watch.ts, shared with the docker-labels provider).
import type { BackendSpec, DiscoveryConfig } from "../../config/types";
import type { Logger } from "../../log/logger";
import { Notes } from "../notes";
import type { DiscoverySource } from "../runner";
import { DockerClient, labelMatches, parseDockerEndpoint } from "./client";
import { containerBackends } from "./containers";
import { type DockerInfo, taskBackends } from "./swarm";
import { DockerWatchState } from "./watch";

export { DOCKER_POLL_MS } from "./watch";

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
  const watch = new DockerWatchState(
    (attrs) => labelMatches(attrs, label),
    log,
    "docker discovery",
  );

  const fetch = async (signal: AbortSignal): Promise<BackendSpec[]> => {
    const manager = watch.needsInfo()
      ? watch.mode(await client.get<DockerInfo>("/info", signal))
      : watch.swarm;
    const dead = watch.deadIds();
    notes.begin();
    const [containers, tasks] = await Promise.all([
      containerBackends(
        client,
        { label, privatePort, hostEnvVar, skipSwarmTasks: manager, dead },
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

  return {
    fetch,
    watch: (ctx) =>
      client.events(
        ctx.signal,
        () => ctx.connected(),
        (e) => {
          if (watch.relevant(e)) ctx.refresh();
        },
      ),
    pollHintMs: () => watch.pollHintMs(),
    close: () => client.close(),
  };
}
