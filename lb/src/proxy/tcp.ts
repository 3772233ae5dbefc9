// TCP front end of one server: accept → limits and access → elect → connect (retrying other
// backends on failure) → PROXY header → relay.
import net from "node:net";
import { unbracketHost } from "../config/address";
import type { Backend, ElectionContext } from "../core/backend";
import { probeAcceptedOnread, readAcceptedInto } from "./accepted-read";
import { ActiveSet } from "./active-set";
import type { FrontendSettings, ProxyContext } from "./context";
import { proxyHeader } from "./proxy-protocol";
import { BACKEND_READ, CLIENT_READ, pairOf, RelayPair } from "./relay";

/**
 * Whether accepted sockets read through CLIENT_READ (onread): decided once per thread by
 * a probe before the first listener opens (accepted-read.ts). Tests pin it with
 * setClientOnread() to run the relay on both paths.
 */
let clientOnread: Promise<boolean> | undefined;

function decideClientOnread(log: ProxyContext["log"]): Promise<boolean> {
  clientOnread ??= probeAcceptedOnread().then((reason) => {
    if (reason === null) {
      log.info({}, "client reads: onread into reused buffers");
      return true;
    }
    log.warn(
      { reason },
      "client reads: 'data' events (onread on accepted sockets failed its probe)",
    );
    return false;
  });
  return clientOnread;
}

/** Tests: force the client read path (true: onread, false: 'data' events); undefined re-probes. */
export function setClientOnread(enabled: boolean | undefined): void {
  clientOnread = enabled === undefined ? undefined : Promise.resolve(enabled);
}

export class TcpFrontend {
  private readonly server: net.Server;
  private readonly clients = new ActiveSet<net.Socket>();
  /** Set by listen() from the start-up probe. */
  private clientOnread = false;

  constructor(private readonly ctx: ProxyContext) {
    this.server = net.createServer(
      { allowHalfOpen: true, pauseOnConnect: true, noDelay: true },
      (socket) => this.accept(socket),
    );
  }

  /** `reusePort`: other threads bind the same address (workers > 1; Node >= 22.12). */
  async listen(host: string, port: number, reusePort = false): Promise<void> {
    this.clientOnread = await decideClientOnread(this.ctx.log);
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once("error", onError);
      const options = { host: host || undefined, port, backlog: 4096, reusePort };
      this.server.listen(options, () => {
        this.server.off("error", onError);
        this.server.on("error", (err) =>
          this.ctx.log.error({ err: err.message }, "listener error"),
        );
        resolve();
      });
    });
  }

  address(): net.AddressInfo {
    return this.server.address() as net.AddressInfo;
  }

  /** Stops accepting; established connections go on. */
  stopAccepting(): Promise<void> {
    // close()'s callback waits for every connection to end: the listener itself is closed at once.
    if (this.server.listening) this.server.close();
    return Promise.resolve();
  }

  /** Resolves true when every client connection has closed, false after `deadlineMs`. */
  waitIdle(deadlineMs: number): Promise<boolean> {
    return this.clients.waitEmpty(deadlineMs);
  }

  destroyAll(): void {
    for (const socket of this.clients.snapshot()) closeClient(socket);
  }

  /** Closes the connections relayed to one backend; returns how many. */
  closeBackendConnections(key: string): number {
    let n = 0;
    for (const socket of this.clients.snapshot()) {
      const conn = pairOf(socket) as TcpConnection | undefined;
      if (conn?.relaying && conn.backend?.key === key) {
        closeClient(socket);
        n++;
      }
    }
    return n;
  }

  private accept(client: net.Socket): void {
    const ctx = this.ctx;
    const cfg = ctx.config();
    const clientIp = ctx.clientIp(client.remoteAddress);
    if (cfg.access && !cfg.access.allows(clientIp)) {
      ctx.log.debug({ client: clientIp }, "access denied");
      client.destroy();
      return;
    }
    const admitted = ctx.shared
      ? ctx.shared.tryAcquireServer(cfg.maxConnections)
      : cfg.maxConnections === 0 || ctx.counters.activeConnections < cfg.maxConnections;
    if (!admitted) {
      ctx.log.debug({ client: clientIp }, "server max_connections reached, closing client");
      client.destroy();
      return;
    }
    const onread = this.clientOnread && readAcceptedInto(client, CLIENT_READ);
    this.clients.add(client);
    ctx.counters.activeConnections++;
    const conn = new TcpConnection(client, clientIp, ctx, cfg, this.clients, onread);
    conn.attachClient();
    conn.attempt();
  }
}

const kConn = Symbol("geoswarm.tcpConnection");
type AttemptSocket = net.Socket & { [kConn]?: TcpConnection };

/**
 * One accepted client: election, connect attempts (with retries on other backends), then the
 * relay. Listeners are shared functions (no closures per connection); the upstream socket of the
 * current attempt points back here through `kConn`.
 */
class TcpConnection extends RelayPair implements ElectionContext {
  /** The backend of the current attempt, then of the relay. */
  backend: Backend | null = null;
  /** Backends that refused this client; allocated on the first failure only. */
  private failed: Set<Backend> | undefined;
  private released = false;

  constructor(
    client: net.Socket,
    readonly clientIp: string,
    private readonly ctx: ProxyContext,
    readonly cfg: FrontendSettings,
    private readonly clients: ActiveSet<net.Socket>,
    clientOnread: boolean,
  ) {
    super(client, clientOnread);
  }

  onTx(n: number): void {
    (this.backend as Backend).txBytes += n;
    this.ctx.counters.txTotal += n;
  }

  onRx(n: number): void {
    (this.backend as Backend).rxBytes += n;
    this.ctx.counters.rxTotal += n;
  }

  onRelayClosed(): void {
    this.ctx.table.connectionClosed(this.backend as Backend);
    this.release();
  }

  onClientClosedEarly(): void {
    // A connect still pending for this client is abandoned: it must not hold the backend's
    // election count (max_connections, leastconn) until the OS gives up on it.
    const pending = this.upstream;
    if (pending && !this.relaying && !pending.destroyed) {
      pending.removeListener("error", onConnectError);
      pending.removeListener("connect", onConnect);
      pending.on("error", ignoreError);
      pending.destroy();
      this.ctx.table.connectionClosed(this.backend as Backend);
    }
    this.release();
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.clients.delete(this.client);
    this.ctx.counters.activeConnections--;
    this.ctx.shared?.releaseServer();
  }

  attempt(): void {
    const ctx = this.ctx;
    if (this.client.destroyed) return;
    const backend = ctx.table.elect(this, this.failed);
    if (!backend) {
      ctx.log.debug(
        { client: this.clientIp, tried: this.failed?.size ?? 0 },
        "no backend available, closing client",
      );
      this.client.destroy();
      return;
    }
    this.backend = backend;
    const upstream: AttemptSocket = net.connect({
      // "[::1]" in a backend line is an IPv6 literal; connect() wants it without brackets.
      host: unbracketHost(backend.host),
      port: backend.port,
      allowHalfOpen: true,
      noDelay: true,
      onread: BACKEND_READ,
    });
    upstream[kConn] = this;
    this.upstream = upstream;
    // The socket's own timer, re-armed to the backend idle timeout (or cleared) once connected:
    // one timer per connection instead of a separate setTimeout for the connect phase.
    if (this.cfg.connectTimeoutMs > 0) {
      upstream.setTimeout(this.cfg.connectTimeoutMs);
      upstream.on("timeout", onConnectTimeout);
    }
    upstream.on("error", onConnectError);
    upstream.on("connect", onConnect);
  }

  connectFailed(err: Error): void {
    const ctx = this.ctx;
    const backend = this.backend as Backend;
    ctx.table.connectionRefused(backend);
    ctx.log.debug({ backend: backend.key, err: err.message }, "backend connect failed");
    if (!this.failed) this.failed = new Set();
    this.failed.add(backend);
    if (this.failed.size <= this.cfg.retries) this.attempt();
    else this.client.destroy();
  }

  connected(upstream: net.Socket): void {
    const { ctx, cfg, client } = this;
    const backend = this.backend as Backend;
    upstream.off("error", onConnectError);
    if (cfg.connectTimeoutMs > 0) upstream.off("timeout", onConnectTimeout);
    ctx.table.connectionEstablished(backend);
    if (client.destroyed) {
      upstream.destroy();
      ctx.table.connectionClosed(backend);
      return;
    }
    if (cfg.proxyProtocol) {
      upstream.write(
        proxyHeader(cfg.proxyProtocol, {
          sourceIp: client.remoteAddress ?? "",
          sourcePort: client.remotePort ?? 0,
          destIp: client.localAddress ?? "",
          destPort: client.localPort ?? 0,
        }),
      );
    }
    this.relay(upstream, cfg.clientIdleMs, cfg.backendIdleMs);
  }
}

function onConnectTimeout(this: AttemptSocket): void {
  this.destroy(new Error("connect timeout"));
}

function onConnectError(this: AttemptSocket, err: Error): void {
  (this[kConn] as TcpConnection).connectFailed(err);
}

function onConnect(this: AttemptSocket): void {
  (this[kConn] as TcpConnection).connected(this);
}

function ignoreError(): void {}

/**
 * Closes a client and, when relaying, its backend socket too. A plain destroy() closes without
 * an error, which the relay reads as a clean close and would leave the backend socket open.
 */
function closeClient(socket: net.Socket): void {
  const pair = pairOf(socket);
  if (pair?.relaying) pair.destroyBoth();
  else socket.destroy();
}
