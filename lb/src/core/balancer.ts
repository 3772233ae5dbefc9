// The running balancer: owns every server, applies API changes and reloads, and keeps the API
// overlay durable. All changes go through one queue, so they apply (and persist) in order.
import { loadConfig, parseDuration } from "../config";
import { DEFAULT_MAX_SERVERS } from "../config/schema/sections";
import { ConfigError, type ConfigSource, type LbConfig, type ServerConfig } from "../config/types";
import { restrictDiscovery } from "../discovery/guard";
import type { Logger } from "../log/logger";
import { selectDataPath } from "../proxy/native-relay";
import { applyOverlay, type Overlay, StateStore } from "../state/store";
import type { WorkerPool } from "../workers/pool";
import { bindError, portOf, samePort } from "./binds";
import { ChangeError } from "./change-error";
import type { ServerOrigin, ServerProvider } from "./provided";
import { Server, sameJson } from "./server";

export { ChangeError };

export interface ReloadResult {
  added: string[];
  updated: string[];
  removed: string[];
  unchanged: string[];
}

export interface BalancerOptions {
  /** Where the config came from; needed for reload. */
  source?: ConfigSource;
  envSubst?: boolean;
  /** `workers > 1`: the data-plane threads every TCP server also runs on. */
  workers?: WorkerPool;
}

/** A server kept in the state file that could not start (its bind is taken, for example). */
export interface FailedServer {
  config: ServerConfig;
  error: string;
}

export class Balancer {
  readonly servers = new Map<string, Server>();
  /**
   * Servers from the state file that could not start. They keep their data (state file, GET) so
   * that a PUT can fix them or a DELETE remove them; everything else runs.
   */
  readonly failed = new Map<string, FailedServer>();
  /** Servers removed by the API or a reload, still draining their connections. */
  private readonly draining = new Set<Server>();
  readonly startTime = new Date();
  /** Servers as the config source lists them (before the API overlay). */
  private fileServers: Record<string, ServerConfig>;
  private overlay: Overlay = new Map();
  private readonly store?: StateStore;
  /**
   * Servers a provider keeps (name → origin): read-only through the API, never in the overlay
   * or the state file, left alone by reloads.
   */
  readonly origins = new Map<string, ServerOrigin>();
  /** Running providers by origin (GET /providers, the dashboard, metrics). */
  readonly providers = new Map<ServerOrigin, ServerProvider>();
  private queue: Promise<unknown> = Promise.resolve();
  private _config: LbConfig;

  constructor(
    config: LbConfig,
    private readonly log: Logger,
    private readonly opts: BalancerOptions = {},
  ) {
    this._config = config;
    this.fileServers = config.servers;
    if (config.state.path) this.store = new StateStore(config.state.path);
  }

  /** The effective configuration: the source's sections with the running servers. */
  get config(): LbConfig {
    return this._config;
  }

  get source(): ConfigSource | undefined {
    return this.opts.source;
  }

  private get graceMs(): number {
    return parseDuration(this._config.shutdown.grace_period);
  }

  /**
   * Loads the API overlay (setting a corrupt state file aside), then starts every server; if one
   * fails, the ones already started are stopped and it rejects.
   */
  async start(): Promise<void> {
    selectDataPath(this.log); // logs which data path (native or JS) relays, and why
    if (this.store) {
      const state = this.store.load(this._config.defaults);
      if (state.setAside) {
        this.log.error(
          { state_file: this.store.path, moved_to: state.setAside, problems: state.problems },
          "state file is corrupt: set aside, starting from the config file alone",
        );
      }
      this.overlay = state.overlay;
      for (const cfg of this.overlay.values()) if (cfg) this.fromApi(cfg);
    }
    const effective = applyOverlay(this.fileServers, this.overlay);
    // The config file's servers first: they were checked together with the API's listeners, and
    // a failure among them is the operator's to fix (exit, systemd shows why).
    for (const [name, cfg] of Object.entries(effective)) {
      if (this.overlay.has(name)) continue;
      try {
        await this.startServer(name, cfg);
      } catch (err) {
        await this.stop(0);
        throw new Error(`servers.${name}: cannot start: ${(err as Error).message}`);
      }
    }
    // Then the API's: one that collides with the file's servers or the API itself is reported
    // as failed instead of crash-looping the whole balancer under Restart=always.
    for (const [name, cfg] of Object.entries(effective)) {
      if (!this.overlay.has(name)) continue;
      try {
        this.checkBindFree(name, cfg);
        await this.startServer(name, cfg);
      } catch (err) {
        const error = (err as Error).message;
        this.failed.set(name, { config: cfg, error });
        this.log.error(
          { server: name, bind: cfg.bind, err: error },
          "server from the state file not started; PUT a new bind or DELETE it",
        );
      }
    }
    this.refreshConfig();
  }

  /** Stops accepting everywhere, waits up to `graceMs` for connections, then closes them. */
  async stop(graceMs = this.graceMs): Promise<void> {
    const all = [...this.servers.values(), ...this.draining];
    await Promise.all(all.map((s) => s.stop(graceMs)));
  }

  /** Takes a server out of the table and lets its connections finish in the background. */
  private retire(name: string, server: Server): void {
    this.servers.delete(name);
    this.draining.add(server);
    void server.stop(this.graceMs).finally(() => this.draining.delete(server));
  }

  private async startServer(name: string, cfg: ServerConfig): Promise<Server> {
    const pool = this.opts.workers;
    const server = new Server(
      name,
      cfg,
      this.log.child({ component: "server", server: name }),
      pool ? { shared: pool.newShared(), workers: pool } : {},
    );
    await server.start();
    this.servers.set(name, server);
    return server;
  }

  /** Brings the workers' byte and connection totals into the stats (no-op without workers). */
  syncStats(): Promise<void> {
    return this.opts.workers?.syncTotals() ?? Promise.resolve();
  }

  /** `server`'s open client connections per data-plane thread: [main, worker 1, …] (syncStats first). */
  threadConnections(server: Server): number[] {
    return [
      server.counters.activeConnections,
      ...(this.opts.workers?.threadConnections(server) ?? []),
    ];
  }

  private refreshConfig(): void {
    const servers: Record<string, ServerConfig> = {};
    for (const [name, s] of this.servers) servers[name] = s.config;
    for (const [name, f] of this.failed) servers[name] = f.config;
    this._config = { ...this._config, servers };
  }

  /** Runs changes one at a time, in arrival order. */
  private serialize<T>(change: () => Promise<T>): Promise<T> {
    const run = this.queue.then(change, change);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async persist(): Promise<void> {
    if (this.store) await this.store.save(this.overlay);
  }

  /** Refuses a bind another server (or the API/metrics listener) already uses. */
  private checkBindFree(name: string, cfg: ServerConfig): void {
    if (cfg.bind.endsWith(":0")) return; // port 0: the system picks a free port
    for (const [other, s] of this.servers) {
      const origin = this.origins.get(other);
      if (origin && other !== name && portOf(s.config.bind) === portOf(cfg.bind)) {
        throw new ChangeError(
          409,
          `bind: port ${portOf(cfg.bind)} is served from Docker labels (server "${other}", origin ${origin}); choose another port, or remove the labels from its containers`,
        );
      }
      if (other !== name && s.config.bind === cfg.bind && s.config.protocol === cfg.protocol) {
        throw new ChangeError(
          409,
          `bind: ${cfg.protocol} ${cfg.bind} is already used by server "${other}"`,
        );
      }
    }
    for (const [what, section] of [
      ["api", this._config.api],
      ["metrics", this._config.metrics],
    ] as const) {
      if (section.enabled && cfg.protocol === "tcp" && samePort(section.bind, cfg.bind)) {
        throw new ChangeError(409, `bind: ${cfg.bind} is used by the ${what} listener`);
      }
    }
  }

  /** Marks a server config as the API's: its discovery may not reach link-local addresses. */
  private fromApi(cfg: ServerConfig): ServerConfig {
    if (!this._config.api.allow_link_local_discovery) restrictDiscovery(cfg.discovery);
    return cfg;
  }

  /** Creates a server (POST /servers/:name). 409 when the name or the bind is taken. */
  create(name: string, cfg: ServerConfig): Promise<void> {
    this.fromApi(cfg);
    return this.serialize(async () => {
      if (this.servers.has(name) || this.failed.has(name))
        throw new ChangeError(409, `name: server "${name}" already exists`);
      const max = this._config.api.max_servers ?? DEFAULT_MAX_SERVERS;
      if (this.servers.size + this.failed.size >= max) {
        throw new ChangeError(
          403,
          `servers: this balancer already has ${max} servers, the most api.max_servers allows; delete one or raise api.max_servers in the config file`,
        );
      }
      this.checkBindFree(name, cfg);
      try {
        await this.startServer(name, cfg);
      } catch (err) {
        throw bindError(cfg, err as NodeJS.ErrnoException);
      }
      this.overlay.set(name, cfg);
      await this.persistOrUndo(async () => {
        this.overlay.delete(name);
        await this.servers.get(name)?.stop(0);
        this.servers.delete(name);
      });
      this.refreshConfig();
      this.log.info({ server: name, bind: cfg.bind }, "server created through the API");
    });
  }

  /** Updates a server in place (PUT /servers/:name). */
  update(name: string, cfg: ServerConfig): Promise<void> {
    this.fromApi(cfg);
    return this.serialize(async () => {
      this.refuseProvided(name);
      if (this.failed.has(name)) return this.restartFailed(name, cfg);
      const server = this.servers.get(name);
      if (!server) throw new ChangeError(404, `server "${name}" does not exist`);
      this.checkBindFree(name, cfg);
      const previous = server.config;
      try {
        await server.update(cfg);
      } catch (err) {
        throw bindError(cfg, err as NodeJS.ErrnoException);
      }
      const hadOverlay = this.overlay.get(name);
      this.overlay.set(name, cfg);
      await this.persistOrUndo(async () => {
        if (hadOverlay === undefined) this.overlay.delete(name);
        else this.overlay.set(name, hadOverlay);
        await server.update(previous);
      });
      this.refreshConfig();
      this.log.info({ server: name }, "server updated through the API");
    });
  }

  /** Deletes a server (DELETE /servers/:name): it stops accepting and its connections drain. */
  delete(name: string): Promise<void> {
    return this.serialize(async () => {
      this.refuseProvided(name);
      const server = this.servers.get(name);
      const failed = this.failed.get(name);
      if (!server && !failed) throw new ChangeError(404, `server "${name}" does not exist`);
      const hadOverlay = this.overlay.get(name);
      // A tombstone only matters for a server the config file defines.
      if (Object.hasOwn(this.fileServers, name)) this.overlay.set(name, null);
      else this.overlay.delete(name);
      await this.persistOrUndo(async () => {
        if (hadOverlay === undefined) this.overlay.delete(name);
        else this.overlay.set(name, hadOverlay);
      });
      if (server) this.retire(name, server);
      this.failed.delete(name);
      this.refreshConfig();
      this.log.info({ server: name }, "server deleted through the API");
    });
  }

  /** PUT on a server that failed at start: a new config is started like a new server. */
  private async restartFailed(name: string, cfg: ServerConfig): Promise<void> {
    this.checkBindFree(name, cfg);
    try {
      await this.startServer(name, cfg);
    } catch (err) {
      throw bindError(cfg, err as NodeJS.ErrnoException);
    }
    const previous = this.failed.get(name) as FailedServer;
    const hadOverlay = this.overlay.get(name);
    this.failed.delete(name);
    this.overlay.set(name, cfg);
    await this.persistOrUndo(async () => {
      if (hadOverlay === undefined) this.overlay.delete(name);
      else this.overlay.set(name, hadOverlay);
      await this.servers.get(name)?.stop(0);
      this.servers.delete(name);
      this.failed.set(name, previous);
    });
    this.refreshConfig();
    this.log.info({ server: name }, "failed server started through the API");
  }

  private async persistOrUndo(undo: () => Promise<void>): Promise<void> {
    try {
      await this.persist();
    } catch (err) {
      await undo();
      throw new Error(`cannot write the state file: ${(err as Error).message}`);
    }
  }

  /** 409 for a change through the API to a provider's server. */
  private refuseProvided(name: string): void {
    const error = this.readOnly(name);
    if (error) throw error;
  }

  /** The 409 a change to `name` through the API gets, when a provider keeps it. */
  readOnly(name: string): ChangeError | undefined {
    const origin = this.origins.get(name);
    return origin ? new ChangeError(409, providedMessage(name, origin)) : undefined;
  }

  /** What besides the providers' servers listens on `port` (any protocol), or undefined. */
  portUser(port: number): string | undefined {
    for (const [name, s] of this.servers) {
      if (this.origins.has(name) || portOf(s.config.bind) !== port) continue;
      return `server "${name}" (${this.overlay.has(name) ? "API" : "config file"})`;
    }
    for (const [name, f] of this.failed) {
      if (portOf(f.config.bind) === port) return `server "${name}" (API, not started)`;
    }
    const { api, metrics } = this._config;
    if (api.enabled && portOf(api.bind) === port) return `the API (api.bind ${api.bind})`;
    if (metrics.enabled && portOf(metrics.bind) === port)
      return `the metrics endpoint (metrics.bind ${metrics.bind})`;
    return undefined;
  }

  get defaults(): LbConfig["defaults"] {
    return this._config.defaults;
  }

  /** A provider's servers by name. */
  providedConfigs(origin: ServerOrigin): Map<string, ServerConfig> {
    const out = new Map<string, ServerConfig>();
    for (const [name, o] of this.origins) {
      const server = this.servers.get(name);
      if (o === origin && server) out.set(name, server.config);
    }
    return out;
  }

  /** Starts a provider's server (rejects when the name is taken or the bind fails). */
  startProvided(origin: ServerOrigin, name: string, cfg: ServerConfig): Promise<void> {
    return this.serialize(async () => {
      if (this.servers.has(name) || this.failed.has(name))
        throw new Error(`a server named "${name}" already exists`);
      await this.startServer(name, cfg);
      this.origins.set(name, origin);
      this.refreshConfig();
    });
  }

  updateProvided(name: string, cfg: ServerConfig): Promise<void> {
    return this.serialize(async () => {
      const server = this.servers.get(name);
      if (!server || !this.origins.has(name)) throw new Error(`no provided server "${name}"`);
      await server.update(cfg);
      this.refreshConfig();
    });
  }

  /** Closes a provider's server: it stops accepting; live connections get the shutdown grace. */
  stopProvided(name: string): Promise<void> {
    return this.serialize(async () => {
      const server = this.servers.get(name);
      if (!server || !this.origins.has(name)) return;
      this.origins.delete(name);
      this.retire(name, server);
      this.refreshConfig();
    });
  }

  /**
   * Re-reads the config source and converges: unchanged servers are not touched, changed ones
   * are updated in place, removed ones drain, new ones start. API changes (the overlay) still
   * win over the file. Sections other than [servers] need a restart to change.
   */
  reload(): Promise<ReloadResult> {
    return this.serialize(async () => {
      if (!this.opts.source)
        throw new ChangeError(400, "reload: the configuration has no source to re-read");
      let loaded: Awaited<ReturnType<typeof loadConfig>>;
      try {
        loaded = await loadConfig(this.opts.source, { envSubst: this.opts.envSubst ?? false });
      } catch (err) {
        if (err instanceof ConfigError)
          throw new ChangeError(400, "reload: invalid configuration", err.problems);
        throw new ChangeError(400, `reload: ${(err as Error).message}`);
      }
      for (const section of [
        "logging",
        "api",
        "metrics",
        "defaults",
        "shutdown",
        "state",
        "workers",
        "providers",
      ] as const) {
        if (!sameJson(loaded.config[section], this._config[section])) {
          this.log.warn(
            { section },
            "reload: this section changed; it takes effect at the next restart",
          );
        }
      }
      this.fileServers = loaded.config.servers;
      const desired = applyOverlay(this.fileServers, this.overlay);
      const result: ReloadResult = { added: [], updated: [], removed: [], unchanged: [] };
      for (const name of this.origins.keys()) {
        if (Object.hasOwn(desired, name)) {
          this.log.error(
            { server: name, origin: this.origins.get(name) },
            "reload: a server of this name comes from a provider; the config file's is not applied",
          );
          delete desired[name];
        }
      }
      for (const [name, server] of [...this.servers]) {
        if (this.origins.has(name)) continue;
        if (!Object.hasOwn(desired, name)) {
          this.retire(name, server);
          result.removed.push(name);
        }
      }
      for (const name of [...this.failed.keys()]) {
        if (!Object.hasOwn(desired, name)) this.failed.delete(name);
      }
      for (const [name, cfg] of Object.entries(desired)) {
        const server = this.servers.get(name);
        try {
          if (!server) {
            await this.startServer(name, cfg);
            this.failed.delete(name);
            result.added.push(name);
          } else if (!sameJson(server.config, cfg)) {
            await server.update(cfg);
            result.updated.push(name);
          } else {
            result.unchanged.push(name);
          }
        } catch (err) {
          this.log.error(
            { server: name, err: (err as Error).message },
            "reload: server not applied",
          );
        }
      }
      this.refreshConfig();
      this.log.info(result, "configuration reloaded");
      return result;
    });
  }
}

function providedMessage(name: string, origin: ServerOrigin): string {
  return `server "${name}" comes from Docker labels (origin ${origin}) and is read-only through the API; change or remove the labels of its containers or services instead`;
}
