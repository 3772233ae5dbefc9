// What docker discovery and the docker-labels provider share about following an endpoint: which
// events call for a fetch, which containers died before the engine lists them as stopped, whether
// the endpoint is a swarm manager, and how often to poll swarm-mode tasks.
//
// A swarm manager emits no event when a task on another node starts or stops, so its tasks are
// polled: every DOCKER_POLL_MS, and every TASK_BURST_POLL_MS for TASK_BURST_MS after a service or
// node event (a `docker service create/scale/update` is when tasks come and go), which keeps a
// scaled service's new task within the pickup budget without polling fast forever.
import type { Logger } from "../../log/logger";
import type { DockerEvent } from "./client";
import { type DockerInfo, isSwarmManager } from "./swarm";

/** Poll period while the event stream is down, and for swarm-mode tasks. */
export const DOCKER_POLL_MS = 1000;
/**
 * Task poll period right after a service or node event. 50 ms was measured on the testbed (a
 * worker's task "running" → backend): no better than 100 ms under load (median 361 vs 295 ms
 * over six runs with three testbeds on two cores; the worker's report to the manager dominates)
 * for about twice the Docker API calls (67-71/s vs 36-37/s alone).
 */
export const TASK_BURST_POLL_MS = 100;
/** How long the fast task polling lasts after such an event. */
export const TASK_BURST_MS = 15_000;
/**
 * How long the endpoint's mode (engine or swarm manager) from GET /info is trusted: /info is the
 * slowest call of a fetch (the daemon gathers its whole system state), and a node joins or leaves
 * a swarm rarely.
 */
export const INFO_TTL_MS = 10_000;

const CONTAINER_ACTIONS = new Set(["start", "die", "stop", "destroy", "pause", "unpause"]);
/** How long a "die" event keeps a container out of the list (the engine catches up in ms). */
const DEAD_TTL_MS = 30_000;

export class DockerWatchState {
  /** Whether the endpoint was a swarm manager at the last fetch. */
  swarm = false;
  /** Container id → when its "die" event arrived. */
  private readonly dead = new Map<string, number>();
  private burstUntil = 0;
  private infoAt = Number.NEGATIVE_INFINITY;

  constructor(
    /** Whether a container event's attributes (its labels) concern this watcher. */
    private readonly matches: (attributes: Record<string, string> | undefined) => boolean,
    private readonly log: Logger,
    private readonly what: string,
  ) {}

  /** Whether the endpoint's mode is unknown or older than INFO_TTL_MS (ask GET /info). */
  needsInfo(): boolean {
    return Date.now() - this.infoAt > INFO_TTL_MS;
  }

  /** Records the endpoint's mode from GET /info; logs a change. Returns whether it is a manager. */
  mode(info: DockerInfo): boolean {
    this.infoAt = Date.now();
    const manager = isSwarmManager(info);
    if (manager !== this.swarm) {
      this.log.info({ swarm_manager: manager }, `${this.what}: endpoint mode`);
      this.swarm = manager;
    }
    return manager;
  }

  /** Containers to leave out although the engine may still list them as running. */
  deadIds(): Set<string> {
    const now = Date.now();
    for (const [id, at] of this.dead) if (now - at > DEAD_TTL_MS) this.dead.delete(id);
    return new Set(this.dead.keys());
  }

  /** Whether the event calls for a full fetch (also notes deaths and starts task bursts). */
  relevant(e: DockerEvent): boolean {
    const type = e.Type ?? "";
    const action = e.Action ?? e.status ?? "";
    if (type === "node") this.infoAt = Number.NEGATIVE_INFINITY;
    if (type === "service" || type === "node") {
      this.burstUntil = Date.now() + TASK_BURST_MS;
      return true;
    }
    if (type !== "container") return false;
    const base = action.split(":")[0];
    if (!CONTAINER_ACTIONS.has(base) && base !== "health_status") return false;
    if (!this.matches(e.Actor?.Attributes)) return false;
    const id = e.Actor?.ID;
    if (id && (base === "die" || base === "stop" || base === "destroy"))
      this.dead.set(id, Date.now());
    if (id && base === "start") this.dead.delete(id);
    return true;
  }

  /** The runner's poll hint: tasks are polled on a manager (fast during a burst). */
  pollHintMs(): number | undefined {
    if (!this.swarm) return undefined;
    return Date.now() < this.burstUntil ? TASK_BURST_POLL_MS : DOCKER_POLL_MS;
  }
}
