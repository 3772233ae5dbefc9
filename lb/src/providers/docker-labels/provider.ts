// The docker-labels provider ([providers.docker]): follows a Docker engine, classic Swarm or a
// swarm-mode manager through the same client, event stream and runner as docker discovery, and
// keeps one balancer server per labelled port (plan.ts decides which).
//
// Timing: an event (container start/die/…, any service or node event) triggers a full fetch at
// once; a manager's tasks are polled (fast for a while after a service event, watch.ts); a full
// resync runs every resync_interval. Each fetch's plan is applied in order, one at a time.
// Lifecycle of a server: created when its first member appears; updated in place (new backends,
// new settings when no member keeps the old ones); when its last member goes, its backends are
// emptied and its listener stays open for drain_grace, so a replacement re-uses it; then it
// closes. Refusals are logged once when they appear and once when they clear.
import { parseDuration, parsePortRange } from "../../config";
import type { ConnectionOptions, DockerProviderConfig, ServerConfig } from "../../config/types";
import type { ProviderStatus, Refusal, ServerOrigin, ServerProvider } from "../../core/provided";
import { refusalText } from "../../core/provided";
import { DISCOVERY_RETRY_MS } from "../../discovery";
import { DockerClient, dockerEndpoint } from "../../discovery/docker/client";
import { isLocalEndpoint } from "../../discovery/docker/containers";
import type { DockerInfo } from "../../discovery/docker/swarm";
import { DockerWatchState } from "../../discovery/docker/watch";
import { DiscoveryRunner } from "../../discovery/runner";
import type { Logger } from "../../log/logger";
import { type Candidate, type Plan, plan, settingsKey } from "./plan";
import { scanContainers, scanServices } from "./scan";

export const ORIGIN: ServerOrigin = "docker-labels";
const FETCH_TIMEOUT_MS = 5000;

/** What the provider needs of the balancer (core/balancer.ts implements it). */
export interface ProviderHost {
  /** What else of the balancer listens on `port` (any protocol), or undefined. */
  portUser(port: number): string | undefined;
  /** The provider's servers by name. */
  providedConfigs(origin: ServerOrigin): Map<string, ServerConfig>;
  startProvided(origin: ServerOrigin, name: string, cfg: ServerConfig): Promise<void>;
  updateProvided(name: string, cfg: ServerConfig): Promise<void>;
  stopProvided(name: string): Promise<void>;
  readonly defaults: ConnectionOptions;
}

export function serverName(port: number): string {
  return `docker-labels-${port}`;
}

function portOfName(name: string): number {
  return Number(name.slice("docker-labels-".length));
}

interface Snapshot {
  candidates: Candidate[];
}

export class DockerLabelsProvider implements ServerProvider {
  private readonly client: DockerClient;
  private readonly watch: DockerWatchState;
  private readonly runner: DiscoveryRunner<Snapshot>;
  private readonly range: { first: number; last: number };
  private readonly backendPorts?: { first: number; last: number };
  private readonly graceMs: number;
  private refusals: Refusal[] = [];
  /** Refusals by their text, to log each once per change. */
  private logged = new Set<string>();
  /** Port → when its listener closes, and the timer that closes it. */
  private readonly draining = new Map<number, { until: number; timer: NodeJS.Timeout }>();
  /** Port → members, for the status. */
  private members = new Map<number, string[]>();
  /** Ports whose server could not listen: the error, kept as a refusal until it works. */
  private readonly bindErrors = new Map<number, string>();
  private latest?: Snapshot;
  /** Plans are applied and listeners closed one at a time, in order. */
  private queue: Promise<void> = Promise.resolve();
  private scheduled = false;
  private stopped = false;
  private error?: string;
  private fetched = false;
  private firstApply?: () => void;
  /** Resolves after the first fetch's plan is applied (or the first fetch failed). */
  readonly ready: Promise<void>;

  constructor(
    private readonly cfg: DockerProviderConfig,
    private readonly host: ProviderHost,
    private readonly log: Logger,
  ) {
    const range = parsePortRange(cfg.port_range);
    if (!range) throw new Error(`providers.docker.port_range: invalid ${cfg.port_range}`);
    this.range = range;
    if (cfg.backend_port_range !== undefined) {
      const ports = parsePortRange(cfg.backend_port_range);
      if (!ports) {
        throw new Error(`providers.docker.backend_port_range: invalid ${cfg.backend_port_range}`);
      }
      this.backendPorts = ports;
    }
    this.graceMs = parseDuration(cfg.drain_grace);
    const endpoint = dockerEndpoint(
      {
        endpoint: cfg.endpoint,
        tls: cfg.tls_enabled,
        cert: cfg.tls_cert_path,
        key: cfg.tls_key_path,
        ca: cfg.tls_cacert_path,
      },
      "providers.docker.endpoint",
    );
    if (endpoint.insecure) {
      log.warn(
        { endpoint: cfg.endpoint },
        "docker labels: TLS without tls_cacert_path; the server certificate is not verified",
      );
    }
    this.client = new DockerClient(endpoint);
    const prefix = cfg.label_prefix;
    // A task container on the manager carries its service's id, not the service's labels.
    this.watch = new DockerWatchState(
      (attrs) =>
        Object.keys(attrs ?? {}).some(
          (k) => k.startsWith(prefix) || k === "com.docker.swarm.service.id",
        ),
      log,
      "docker labels",
    );
    this.ready = new Promise((resolve) => {
      this.firstApply = resolve;
    });
    this.runner = new DiscoveryRunner<Snapshot>({
      fetch: {
        fetch: (signal) => this.fetch(signal),
        watch: (ctx) =>
          this.client.events(
            ctx.signal,
            () => ctx.connected(),
            (e) => {
              if (this.watch.relevant(e)) ctx.refresh();
            },
          ),
        pollHintMs: () => this.watch.pollHintMs(),
        close: () => this.client.close(),
      },
      intervalMs: parseDuration(cfg.resync_interval),
      timeoutMs: FETCH_TIMEOUT_MS,
      failpolicy: "keeplast",
      retryMs: DISCOVERY_RETRY_MS,
      watchDownPollMs: 1000,
      onUpdate: (snapshot) => this.onSnapshot(snapshot),
      log,
    });
  }

  start(): void {
    this.runner.start();
  }

  /** Stops following Docker; the servers themselves are stopped with the balancer. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.runner.stop();
    for (const d of this.draining.values()) clearTimeout(d.timer);
    this.draining.clear();
    await this.queue;
  }

  private enqueue(task: () => Promise<void>): void {
    this.queue = this.queue.then(task).catch((err: Error) => {
      this.log.error({ err: err.message }, "docker labels: applying failed");
    });
  }

  private async fetch(signal: AbortSignal): Promise<Snapshot> {
    try {
      const swarm = this.watch.needsInfo()
        ? this.watch.mode(await this.client.get<DockerInfo>("/info", signal))
        : this.watch.swarm;
      const opts = {
        prefix: this.cfg.label_prefix,
        filter: this.cfg.container_filter,
        swarm,
        dead: this.watch.deadIds(),
      };
      const [containers, services] = await Promise.all([
        scanContainers(this.client, opts, signal),
        swarm ? scanServices(this.client, opts, signal) : [],
      ]);
      this.error = undefined;
      return { candidates: [...containers, ...services] };
    } catch (err) {
      this.error = (err as Error).message;
      if (!this.fetched) {
        this.fetched = true;
        this.firstApply?.();
      }
      throw err;
    }
  }

  private onSnapshot(snapshot: Snapshot): void {
    this.fetched = true;
    this.latest = snapshot;
    if (this.scheduled) return;
    this.scheduled = true;
    this.enqueue(async () => {
      this.scheduled = false;
      const next = this.latest;
      this.latest = undefined;
      try {
        if (next && !this.stopped) await this.apply(next);
      } finally {
        this.firstApply?.();
      }
    });
  }

  private async apply(snapshot: Snapshot): Promise<void> {
    const existing = this.host.providedConfigs(ORIGIN);
    const result: Plan = plan(snapshot.candidates, {
      labels: {
        prefix: this.cfg.label_prefix,
        listenHost: this.cfg.listen_host,
        portRange: this.range,
        defaults: this.host.defaults,
      },
      portUser: (port) => this.host.portUser(port),
      localEndpoint: isLocalEndpoint(this.client),
      backendPorts: this.backendPorts,
      current: (port) => {
        const cfg = existing.get(serverName(port));
        // A draining server's settings no longer bind anyone: a replacement may change them.
        return cfg && !this.draining.has(port) ? cfg : undefined;
      },
    });
    const refusals = [...result.refusals];
    const members = new Map<number, string[]>();
    for (const [port, planned] of result.servers) {
      const name = serverName(port);
      const current = existing.get(name);
      try {
        if (!current) {
          await this.host.startProvided(ORIGIN, name, planned.config);
          this.log.info(
            {
              server: name,
              port,
              protocol: planned.protocol,
              members: planned.members,
              backends: planned.backends.length,
            },
            "docker labels: server started",
          );
        } else if (JSON.stringify(current) !== JSON.stringify(planned.config)) {
          const settingsChanged = settingsKey(current) !== settingsKey(planned.config);
          await this.host.updateProvided(name, planned.config);
          this.log.info(
            {
              server: name,
              members: planned.members,
              backends: planned.backends.length,
              settings_changed: settingsChanged,
            },
            "docker labels: server updated",
          );
        }
        this.bindErrors.delete(port);
        members.set(port, planned.members);
        const drain = this.draining.get(port);
        if (drain) {
          clearTimeout(drain.timer);
          this.draining.delete(port);
          this.log.info(
            { server: name },
            "docker labels: server drain cancelled; a container is back",
          );
        }
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const why = code
          ? `cannot listen on ${planned.config.bind}: ${code}`
          : (err as Error).message;
        this.bindErrors.set(port, why);
        for (const m of planned.members) {
          const [source, ...rest] = m.split(" ");
          refusals.push({
            source: source as Refusal["source"],
            name: rest.join(" "),
            label: `${this.cfg.label_prefix}port`,
            value: String(port),
            problem: `expected a port the balancer can listen on; ${why}`,
            port,
          });
        }
      }
    }
    for (const [name, cfg] of existing) {
      const port = portOfName(name);
      if (result.servers.has(port) || this.draining.has(port)) continue;
      const emptied: ServerConfig = { ...cfg, discovery: { ...cfg.discovery, static_list: [] } };
      await this.host.updateProvided(name, emptied);
      const until = Date.now() + this.graceMs;
      const timer = setTimeout(() => this.close(port), this.graceMs);
      timer.unref();
      this.draining.set(port, { until, timer });
      this.log.info(
        { server: name, drain_grace: this.cfg.drain_grace },
        "docker labels: last container gone; the listener stays open for drain_grace",
      );
    }
    this.members = members;
    this.setRefusals(refusals);
  }

  private close(port: number): void {
    if (!this.draining.has(port) || this.stopped) return;
    this.draining.delete(port);
    const name = serverName(port);
    this.enqueue(async () => {
      // A container may have come back between the timer and now.
      if (this.draining.has(port) || this.members.has(port) || this.stopped) return;
      await this.host.stopProvided(name);
      this.log.info({ server: name }, "docker labels: drain grace over; server closed");
    });
  }

  private setRefusals(refusals: Refusal[]): void {
    const texts = new Set(refusals.map(refusalText));
    for (const r of refusals) {
      const text = refusalText(r);
      if (this.logged.has(text)) continue;
      this.log.warn(
        { source: r.source, name: r.name, label: r.label, value: r.value, port: r.port },
        `docker labels: refused: ${text}`,
      );
    }
    for (const text of this.logged) {
      if (!texts.has(text)) this.log.info(`docker labels: no longer refused: ${text}`);
    }
    this.logged = texts;
    this.refusals = refusals;
  }

  status(): ProviderStatus {
    const configs = this.host.providedConfigs(ORIGIN);
    return {
      origin: ORIGIN,
      endpoint: this.cfg.endpoint,
      mode: !this.fetched ? "unknown" : this.watch.swarm ? "swarm" : "engine",
      ...(this.error ? { error: this.error } : {}),
      label_prefix: this.cfg.label_prefix,
      port_range: this.cfg.port_range,
      servers: [...configs]
        .map(([name, cfg]) => {
          const port = portOfName(name);
          const drain = this.draining.get(port);
          return {
            name,
            port,
            protocol: cfg.protocol,
            members: this.members.get(port) ?? [],
            backends: cfg.discovery.static_list?.length ?? 0,
            ...(drain ? { draining_until: new Date(drain.until).toISOString() } : {}),
          };
        })
        .sort((a, b) => a.port - b.port),
      refusals: this.refusals,
    };
  }
}
