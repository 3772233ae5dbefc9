// The running balancer: owns every server, applies API changes and reloads, and keeps the API
// overlay durable. All changes go through one queue, so they apply (and persist) in order.
import { loadConfig, parseDuration } from "../config";
import { ConfigError, type ConfigSource, type LbConfig, type ServerConfig } from "../config/types";
import type { Logger } from "../log/logger";
import { applyOverlay, type Overlay, StateStore } from "../state/store";
import type { WorkerPool } from "../workers/pool";
import { Server, sameJson } from "./server";

/** A change refused for a reason the client can fix; `status` is the HTTP status to answer. */
export class ChangeError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
    /** Field-level problems, when there are several (validation); else empty. */
    readonly problems: string[] = [],
  ) {
    super(message);
  }
}

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

export class Balancer {
  readonly servers = new Map<string, Server>();
  /** Servers removed by the API or a reload, still draining their connections. */
  private readonly draining = new Set<Server>();
  readonly startTime = new Date();
  /** Servers as the config source lists them (before the API overlay). */
  private fileServers: Record<string, ServerConfig>;
  private overlay: Overlay = new Map();
  private readonly store?: StateStore;
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
    if (this.store) {
      const state = this.store.load(this._config.defaults);
      if (state.setAside) {
        this.log.error(
          { state_file: this.store.path, moved_to: state.setAside, problems: state.problems },
          "state file is corrupt: set aside, starting from the config file alone",
        );
      }
      this.overlay = state.overlay;
    }
    const effective = applyOverlay(this.fileServers, this.overlay);
    for (const [name, cfg] of Object.entries(effective)) {
      try {
        await this.startServer(name, cfg);
      } catch (err) {
        await this.stop(0);
        throw new Error(`servers.${name}: cannot start: ${(err as Error).message}`);
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

  private refreshConfig(): void {
    const servers: Record<string, ServerConfig> = {};
    for (const [name, s] of this.servers) servers[name] = s.config;
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
      if (section.enabled && cfg.protocol === "tcp" && section.bind === cfg.bind) {
        throw new ChangeError(409, `bind: ${cfg.bind} is used by the ${what} listener`);
      }
    }
  }

  /** Creates a server (POST /servers/:name). 409 when the name or the bind is taken. */
  create(name: string, cfg: ServerConfig): Promise<void> {
    return this.serialize(async () => {
      if (this.servers.has(name))
        throw new ChangeError(409, `name: server "${name}" already exists`);
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
    return this.serialize(async () => {
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
      const server = this.servers.get(name);
      if (!server) throw new ChangeError(404, `server "${name}" does not exist`);
      const hadOverlay = this.overlay.get(name);
      // A tombstone only matters for a server the config file defines.
      if (name in this.fileServers) this.overlay.set(name, null);
      else this.overlay.delete(name);
      await this.persistOrUndo(async () => {
        if (hadOverlay === undefined) this.overlay.delete(name);
        else this.overlay.set(name, hadOverlay);
      });
      this.retire(name, server);
      this.refreshConfig();
      this.log.info({ server: name }, "server deleted through the API");
    });
  }

  private async persistOrUndo(undo: () => Promise<void>): Promise<void> {
    try {
      await this.persist();
    } catch (err) {
      await undo();
      throw new Error(`cannot write the state file: ${(err as Error).message}`);
    }
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
      for (const [name, server] of [...this.servers]) {
        if (!(name in desired)) {
          this.retire(name, server);
          result.removed.push(name);
        }
      }
      for (const [name, cfg] of Object.entries(desired)) {
        const server = this.servers.get(name);
        try {
          if (!server) {
            await this.startServer(name, cfg);
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

function bindError(cfg: ServerConfig, err: NodeJS.ErrnoException): Error {
  if (err.code === "EADDRINUSE") return new ChangeError(409, `bind: ${cfg.bind} is already in use`);
  if (err.code === "EADDRNOTAVAIL" || err.code === "EACCES" || err.code === "ENOTFOUND") {
    return new ChangeError(400, `bind: cannot listen on ${cfg.bind}: ${err.code}`);
  }
  return err;
}
