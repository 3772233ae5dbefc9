// One configured server: its listener (TCP or UDP), its backend table, discovery and
// healthchecks. Data flows one way: discovery → table ← healthchecks; front end → table.
import { isIPv4 } from "node:net";
import { createStrategy } from "../balance";
import { parseDuration } from "../config";
import type { ServerConfig } from "../config/types";
import { createDiscovery } from "../discovery";
import type { DiscoveryRunner } from "../discovery/runner";
import { HealthcheckRunner } from "../healthcheck/runner";
import type { Logger } from "../log/logger";
import type { FrontendSettings, ProxyContext, ServerCounters } from "../proxy/context";
import { TcpFrontend } from "../proxy/tcp";
import { UdpFrontend } from "../proxy/udp";
import { AccessList, normalizeClientIp } from "./access";
import { BackendTable } from "./backend-table";

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

/** Splits "host:port", "[v6]:port" or ":port" into listen arguments. */
export function splitBind(bind: string): { host: string; port: number } {
  const i = bind.lastIndexOf(":");
  let host = bind.slice(0, i);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  return { host, port: Number(bind.slice(i + 1)) };
}

export function frontendSettings(cfg: ServerConfig): FrontendSettings {
  return {
    maxConnections: cfg.max_connections,
    connectTimeoutMs: parseDuration(cfg.backend_connection_timeout),
    retries: cfg.backend_connection_retries,
    clientIdleMs: parseDuration(cfg.client_idle_timeout),
    backendIdleMs: parseDuration(cfg.backend_idle_timeout),
    proxyProtocol: cfg.proxy_protocol?.version ?? null,
    access: cfg.access ? new AccessList(cfg.access) : null,
    maxRequests: cfg.udp?.max_requests ?? 0,
    maxResponses: cfg.udp?.max_responses ?? 0,
  };
}

export class Server {
  readonly table: BackendTable;
  readonly counters: ServerCounters = { activeConnections: 0, rxTotal: 0, txTotal: 0 };
  private settings: FrontendSettings;
  private readonly frontend: TcpFrontend | UdpFrontend;
  private readonly discovery: DiscoveryRunner;
  private readonly healthcheck: HealthcheckRunner;
  private rateTimer?: NodeJS.Timeout;
  private lastRx = 0;
  private lastTx = 0;
  private rxSecond = 0;
  private txSecond = 0;
  private state: "new" | "running" | "stopping" | "stopped" = "new";

  constructor(
    readonly name: string,
    readonly config: ServerConfig,
    private readonly log: Logger,
  ) {
    this.settings = frontendSettings(config);
    const hc = config.healthcheck;
    this.healthcheck = new HealthcheckRunner(
      hc,
      (key, live) => {
        if (this.table.setLive(key, live)) {
          this.log.info({ backend: key, live }, live ? "backend is healthy" : "backend is unhealthy");
        }
      },
      this.log,
    );
    this.table = new BackendTable({
      strategy: createStrategy(config.balance),
      initialLive: hc.kind === "none" || hc.initial_status === "healthy",
      onMembershipChange: (backends) => this.healthcheck.sync(backends),
    });
    this.discovery = createDiscovery(
      config.discovery,
      (backends) => {
        const change = this.table.applyDiscovery(backends);
        if (change.added.length || change.removed.length) {
          this.log.info({ added: change.added, removed: change.removed }, "backends changed");
        }
      },
      this.log,
    );
    const ctx: ProxyContext = {
      table: this.table,
      counters: this.counters,
      config: () => this.settings,
      clientIp: normalizeClientIp,
      log: this.log,
    };
    this.frontend = config.protocol === "udp" ? new UdpFrontend(ctx) : new TcpFrontend(ctx);
  }

  /** Binds the listener, then starts discovery and healthchecks. Rejects if the bind fails. */
  async start(): Promise<void> {
    const { host, port } = splitBind(this.config.bind);
    await this.frontend.listen(host, port);
    this.state = "running";
    this.discovery.start();
    this.rateTimer = setInterval(() => this.updateRates(), RATE_WINDOW_MS);
    this.rateTimer.unref();
    this.log.info({ bind: this.boundAddress(), protocol: this.config.protocol, balance: this.config.balance }, "server started");
  }

  /** The address actually bound (useful with port 0). */
  boundAddress(): string {
    const a = this.frontend.address();
    return isIPv4(a.address) ? `${a.address}:${a.port}` : `[${a.address}]:${a.port}`;
  }

  /**
   * Stops accepting, lets live connections finish for up to `graceMs`, then closes the rest.
   * Discovery and healthchecks stop at once.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.state === "stopped" || this.state === "stopping") return;
    this.state = "stopping";
    this.discovery.stop();
    this.healthcheck.stop();
    if (this.rateTimer) clearInterval(this.rateTimer);
    await this.frontend.stopAccepting();
    const drained = await this.frontend.waitIdle(graceMs);
    if (!drained) {
      this.log.warn({ connections: this.counters.activeConnections }, "grace period over, closing connections");
      this.frontend.destroyAll();
      await this.frontend.waitIdle(1000);
    }
    this.state = "stopped";
    this.log.info("server stopped");
  }

  private updateRates(): void {
    const seconds = RATE_WINDOW_MS / 1000;
    this.rxSecond = Math.round((this.counters.rxTotal - this.lastRx) / seconds);
    this.txSecond = Math.round((this.counters.txTotal - this.lastTx) / seconds);
    this.lastRx = this.counters.rxTotal;
    this.lastTx = this.counters.txTotal;
    this.table.updateRates(RATE_WINDOW_MS);
  }

  /** gobetween's stats shape (GET /servers/:name/stats). */
  stats(): ServerStats {
    return {
      active_connections: this.counters.activeConnections,
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
