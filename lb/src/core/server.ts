// One configured server: its listener (TCP or UDP), its backend table, discovery and
// healthchecks. Data flows one way: discovery → table ← healthchecks; front end → table.
import { createStrategy } from "../balance";
import { joinHostPort, parseDuration, parseHostPort } from "../config";
import { UDP_DEFAULT_IDLE_TIMEOUT } from "../config/schema/server";
import type { ServerConfig } from "../config/types";
import { createDiscovery } from "../discovery";
import type { DiscoveryRunner } from "../discovery/runner";
import { HealthcheckRunner } from "../healthcheck/runner";
import type { Logger } from "../log/logger";
import type { FrontendSettings, ProxyContext, ServerCounters } from "../proxy/context";
import { TcpFrontend } from "../proxy/tcp";
import { UdpFrontend } from "../proxy/udp";
import { AccessList, normalizeClientIp } from "./access";
import { BackendTable, type SharedElection } from "./backend-table";
import type { SharedCounters } from "./shared-counters";

/** Rates (rx_second/tx_second) are averaged over this window, as gobetween's. */
export const RATE_WINDOW_MS = 2000;

export interface ServerStats {
  active_connections: number;
  rx_total: number;
  tx_total: number;
  rx_second: number;
  tx_second: number;
  backends: Array<{
    host: string;
    port: string;
    priority: number;
    weight: number;
    max_connections?: number;
    sni?: string;
    stats: {
      live: boolean;
      discovered: boolean;
      /** false after POST …/disable or …/drain: never elected, whatever `live` says. */
      enabled: boolean;
      total_connections: number;
      active_connections: number;
      refused_connections: number;
      rx: number;
      tx: number;
      rx_second: number;
      tx_second: number;
    };
  }>;
}

/** Splits a validated bind ("host:port", "[v6]:port", ":port") into listen arguments. */
export function splitBind(bind: string): { host: string; port: number } {
  const hp = parseHostPort(bind, true);
  if (!hp) throw new Error(`cannot parse bind ${JSON.stringify(bind)}`);
  return hp;
}

/** The client idle timeout a server runs with: UDP sessions always end (udpIdleDefault). */
export function effectiveClientIdleMs(cfg: ServerConfig): number {
  const client = parseDuration(cfg.client_idle_timeout);
  if (cfg.protocol !== "udp" || client > 0 || parseDuration(cfg.backend_idle_timeout) > 0)
    return client;
  return parseDuration(UDP_DEFAULT_IDLE_TIMEOUT);
}

export function frontendSettings(cfg: ServerConfig): FrontendSettings {
  return {
    maxConnections: cfg.max_connections,
    connectTimeoutMs: parseDuration(cfg.backend_connection_timeout),
    retries: cfg.backend_connection_retries,
    clientIdleMs: effectiveClientIdleMs(cfg),
    backendIdleMs: parseDuration(cfg.backend_idle_timeout),
    proxyProtocol: cfg.proxy_protocol?.version ?? null,
    access: cfg.access ? new AccessList(cfg.access) : null,
    maxRequests: cfg.udp?.max_requests ?? 0,
    maxResponses: cfg.udp?.max_responses ?? 0,
  };
}

function initialLive(config: ServerConfig): boolean {
  return config.healthcheck.kind === "none" || config.healthcheck.initial_status === "healthy";
}

/** Deep equality of two configuration values (they are plain JSON data). */
export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The main thread's side of `workers > 1` (workers/pool.ts): told of every change the worker
 * threads' copies of a server must follow.
 */
export interface WorkerLink {
  started(server: Server): Promise<void>;
  updated(server: Server): Promise<void>;
  backendsChanged(server: Server): void;
  stopped(server: Server, graceMs: number): Promise<void>;
  closeBackend(server: Server, key: string): Promise<number>;
}

export interface ServerOptions {
  /** `workers > 1`: election counters shared with the other threads. */
  shared?: SharedElection;
  /** Main thread with workers. */
  workers?: WorkerLink;
  /**
   * A worker thread's copy: no discovery, healthchecks or rates; its backends come from the
   * main thread (table.replace) and it binds the address the main thread resolved.
   */
  replica?: { host: string; port: number };
}

let nextServerId = 1;

export class Server {
  /** Unique in the process: a deleted server may drain while a new one of its name starts. */
  readonly id = nextServerId++;
  readonly table: BackendTable;
  readonly counters: ServerCounters = { activeConnections: 0, rxTotal: 0, txTotal: 0 };
  private settings: FrontendSettings;
  private frontend: TcpFrontend | UdpFrontend;
  /** Front ends replaced by a re-bind, draining their connections. */
  private readonly retired = new Set<TcpFrontend | UdpFrontend>();
  private discovery?: DiscoveryRunner;
  private healthcheck?: HealthcheckRunner;
  private readonly ctx: ProxyContext;
  private _config: ServerConfig;
  private rateTimer?: NodeJS.Timeout;
  private lastRx = 0;
  private lastTx = 0;
  private rxSecond = 0;
  private txSecond = 0;
  private state: "new" | "running" | "stopping" | "stopped" = "new";

  constructor(
    readonly name: string,
    config: ServerConfig,
    private readonly log: Logger,
    private readonly opts: ServerOptions = {},
  ) {
    this._config = config;
    this.settings = frontendSettings(config);
    if (!opts.replica) this.healthcheck = this.createHealthcheck(config);
    this.table = new BackendTable({
      strategy: createStrategy(config.balance),
      initialLive: initialLive(config),
      onMembershipChange: (backends) => this.healthcheck?.sync(backends),
      onElectionChange: opts.workers ? () => opts.workers?.backendsChanged(this) : undefined,
      shared: opts.shared,
    });
    if (!opts.replica) this.discovery = this.createDiscovery(config);
    this.ctx = {
      table: this.table,
      counters: this.counters,
      config: () => this.settings,
      clientIp: normalizeClientIp,
      log: this.log,
      shared: opts.shared?.counters,
    };
    this.frontend = this.createFrontend(config);
  }

  /** Bytes per second received from backends over the last RATE_WINDOW_MS. */
  get rxPerSecond(): number {
    return this.rxSecond;
  }

  /** Bytes per second sent to backends over the last RATE_WINDOW_MS. */
  get txPerSecond(): number {
    return this.txSecond;
  }

  /** Client connections (TCP) or sessions (UDP) of every thread. */
  get activeConnections(): number {
    return this.opts.shared
      ? this.opts.shared.counters.serverActive
      : this.counters.activeConnections;
  }

  /** Where this thread's listener should bind. */
  private bindOf(config: ServerConfig): { host: string; port: number } {
    return this.opts.replica ?? splitBind(config.bind);
  }

  private get reusePort(): boolean {
    return Boolean(this.opts.shared);
  }

  get config(): ServerConfig {
    return this._config;
  }

  private createFrontend(config: ServerConfig): TcpFrontend | UdpFrontend {
    return config.protocol === "udp" ? new UdpFrontend(this.ctx) : new TcpFrontend(this.ctx);
  }

  private createHealthcheck(config: ServerConfig): HealthcheckRunner {
    return new HealthcheckRunner(
      config.healthcheck,
      (key, live) => {
        if (this.table.setLive(key, live)) {
          this.log.info(
            { backend: key, live },
            live ? "backend is healthy" : "backend is unhealthy",
          );
        }
      },
      this.log,
    );
  }

  private createDiscovery(config: ServerConfig): DiscoveryRunner {
    return createDiscovery(
      config.discovery,
      (backends) => {
        const change = this.table.applyDiscovery(backends);
        if (change.added.length || change.removed.length) {
          this.log.info({ added: change.added, removed: change.removed }, "backends changed");
        }
      },
      this.log,
    );
  }

  /**
   * Applies a new configuration in place. Established connections are untouched: backends that
   * remain keep their connections and counters, removed ones linger until their connections end.
   * Every new part (discovery, healthcheck, listener) is built before anything is switched, so a
   * failure (a bad pattern, a taken bind) rejects and leaves the server exactly as it was. A
   * changed bind or protocol binds the new listener first and drains the old one.
   */
  async update(next: ServerConfig, replicaBind?: { host: string; port: number }): Promise<void> {
    const prev = this._config;
    const owner = !this.opts.replica;
    const healthcheckChanged = owner && !sameJson(next.healthcheck, prev.healthcheck);
    const discoveryChanged = owner && !sameJson(next.discovery, prev.discovery);
    const settings = frontendSettings(next);
    const healthcheck = healthcheckChanged ? this.createHealthcheck(next) : undefined;
    let discovery: DiscoveryRunner | undefined;
    try {
      discovery = discoveryChanged ? this.createDiscovery(next) : undefined;
    } catch (err) {
      healthcheck?.stop();
      throw err;
    }
    const rebind = next.bind !== prev.bind || next.protocol !== prev.protocol;
    let frontend: TcpFrontend | UdpFrontend | undefined;
    if (rebind && this.state === "running") {
      frontend = this.createFrontend(next);
      try {
        const { host, port } = replicaBind ?? this.bindOf(next);
        await frontend.listen(host, port, this.reusePort);
      } catch (err) {
        healthcheck?.stop();
        discovery?.stop();
        throw err;
      }
    }
    // Nothing below can fail: the switch.
    if (replicaBind && this.opts.replica) this.opts.replica = replicaBind;
    if (frontend) {
      const old = this.frontend;
      this.frontend = frontend;
      this.retired.add(old);
      void old.stopAccepting().then(async () => {
        await old.waitIdle(Number.POSITIVE_INFINITY);
        this.retired.delete(old);
      });
    }
    this._config = next;
    this.settings = settings;
    if (next.balance !== prev.balance) this.table.setStrategy(createStrategy(next.balance));
    if (healthcheck) {
      this.healthcheck?.stop();
      this.table.setInitialLive(initialLive(next));
      if (next.healthcheck.kind === "none")
        for (const b of this.table.backends) this.table.setLive(b.key, true);
      this.healthcheck = healthcheck;
      if (this.state === "running") healthcheck.sync(this.table.backends);
    }
    if (discovery) {
      this.discovery?.stop();
      this.discovery = discovery;
      if (this.state === "running") discovery.start();
    }
    await this.opts.workers?.updated(this);
    this.log.info({ rebind }, "server updated in place");
  }

  /** Binds the listener, then starts discovery and healthchecks. Rejects if the bind fails. */
  async start(): Promise<void> {
    const { host, port } = this.bindOf(this.config);
    await this.frontend.listen(host, port, this.reusePort);
    this.state = "running";
    if (this.opts.workers) {
      try {
        await this.opts.workers.started(this);
      } catch (err) {
        await this.stop(0);
        throw err;
      }
    }
    this.discovery?.start();
    // With workers the pool ticks rates for every server, after collecting the workers' totals.
    if (!this.opts.replica && !this.opts.workers) {
      this.rateTimer = setInterval(() => this.updateRates(), RATE_WINDOW_MS);
      this.rateTimer.unref();
    }
    this.log.info(
      { bind: this.boundAddress(), protocol: this.config.protocol, balance: this.config.balance },
      "server started",
    );
  }

  /** The address actually bound (useful with port 0). */
  boundAddress(): string {
    const a = this.frontend.address();
    return joinHostPort(a.address, a.port);
  }

  /** The listener's address and port, as other threads must bind them. */
  boundSocket(): { address: string; port: number } {
    const { address, port } = this.frontend.address();
    return { address, port };
  }

  get sharedCounters(): SharedCounters | undefined {
    return this.opts.shared?.counters;
  }

  /**
   * Stops accepting, lets live connections finish for up to `graceMs`, then closes the rest.
   * Discovery and healthchecks stop at once.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.state === "stopped" || this.state === "stopping") return;
    this.state = "stopping";
    this.discovery?.stop();
    this.healthcheck?.stop();
    if (this.rateTimer) clearInterval(this.rateTimer);
    const frontends = [this.frontend, ...this.retired];
    await Promise.all(frontends.map((f) => f.stopAccepting()));
    const workersDone = this.opts.workers?.stopped(this, graceMs);
    const drained = await Promise.all(frontends.map((f) => f.waitIdle(graceMs)));
    if (drained.includes(false)) {
      this.log.warn(
        { connections: this.counters.activeConnections },
        "grace period over, closing connections",
      );
      for (const f of frontends) f.destroyAll();
      await Promise.all(frontends.map((f) => f.waitIdle(1000)));
    }
    await workersDone;
    this.state = "stopped";
    this.log.info("server stopped");
  }

  /**
   * Takes a backend out of rotation and waits up to `timeoutMs` for its connections to finish,
   * then closes the rest. Returns how many were closed.
   */
  async drainBackend(key: string, timeoutMs: number): Promise<{ closed: number }> {
    const backend = this.table.get(key);
    if (!backend) return { closed: 0 };
    this.table.setEnabled(key, false);
    const until = Date.now() + timeoutMs;
    while (backend.activeConnections > 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, Math.min(100, Math.max(1, until - Date.now()))));
    }
    let closed = this.closeBackendConnections(key);
    if (this.opts.workers) closed += await this.opts.workers.closeBackend(this, key);
    if (closed > 0)
      this.log.info({ backend: key, closed }, "drain timeout: closed remaining connections");
    return { closed };
  }

  /** Closes this thread's connections to one backend (a worker's part of drainBackend). */
  closeBackendConnections(key: string): number {
    let closed = 0;
    for (const f of [this.frontend, ...this.retired]) closed += f.closeBackendConnections(key);
    return closed;
  }

  /** Recomputes the 2 s rates; called by this server's timer, or by the worker pool's. */
  updateRates(): void {
    const seconds = RATE_WINDOW_MS / 1000;
    this.rxSecond = Math.round((this.counters.rxTotal - this.lastRx) / seconds);
    this.txSecond = Math.round((this.counters.txTotal - this.lastTx) / seconds);
    this.lastRx = this.counters.rxTotal;
    this.lastTx = this.counters.txTotal;
    this.table.updateRates(RATE_WINDOW_MS);
    if (this.opts.shared) this.table.sweepLingering();
  }

  /** gobetween's stats shape (GET /servers/:name/stats). */
  stats(): ServerStats {
    return {
      active_connections: this.activeConnections,
      rx_total: this.counters.rxTotal,
      tx_total: this.counters.txTotal,
      rx_second: this.rxSecond,
      tx_second: this.txSecond,
      backends: this.table.backends.map((b) => ({
        host: b.host,
        port: String(b.port),
        priority: b.priority,
        weight: b.weight,
        ...(b.max_connections ? { max_connections: b.max_connections } : {}),
        ...(b.sni ? { sni: b.sni } : {}),
        stats: {
          live: b.live,
          discovered: b.discovered,
          enabled: b.enabled,
          total_connections: b.totalConnections,
          active_connections: b.activeConnections,
          refused_connections: b.refusedConnections,
          rx: b.rxBytes,
          tx: b.txBytes,
          rx_second: b.rxSecond,
          tx_second: b.txSecond,
        },
      })),
    };
  }
}
