// TCP front end of one server: accept → limits and access → elect → connect (retrying other
// backends on failure) → PROXY header → relay.
import net from "node:net";
import type { Backend } from "../core/backend";
import { ActiveSet } from "./active-set";
import type { ProxyContext } from "./context";
import { proxyHeader } from "./proxy-protocol";
import { relay } from "./relay";

export class TcpFrontend {
  private readonly server: net.Server;
  private readonly clients = new ActiveSet<net.Socket>();
  /** The backend each relayed client is connected to. */
  private readonly backendOf = new WeakMap<net.Socket, Backend>();

  constructor(private readonly ctx: ProxyContext) {
    this.server = net.createServer(
      { allowHalfOpen: true, pauseOnConnect: true, noDelay: true },
      (socket) => this.accept(socket),
    );
  }

  listen(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once("error", onError);
      this.server.listen({ host: host || undefined, port, backlog: 4096 }, () => {
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

  get activeClients(): number {
    return this.clients.size;
  }

  /** Resolves true when every client connection has closed, false after `deadlineMs`. */
  waitIdle(deadlineMs: number): Promise<boolean> {
    return this.clients.waitEmpty(deadlineMs);
  }

  destroyAll(): void {
    for (const socket of this.clients.snapshot()) socket.destroy();
  }

  /** Closes the connections relayed to one backend; returns how many. */
  closeBackendConnections(key: string): number {
    let n = 0;
    for (const socket of this.clients.snapshot()) {
      if (this.backendOf.get(socket)?.key === key) {
        socket.destroy();
        n++;
      }
    }
    return n;
  }

  private accept(client: net.Socket): void {
    const ctx = this.ctx;
    const cfg = ctx.config();
    if (cfg.maxConnections > 0 && this.clients.size >= cfg.maxConnections) {
      ctx.log.debug(
        { client: client.remoteAddress },
        "server max_connections reached, closing client",
      );
      client.destroy();
      return;
    }
    const clientIp = ctx.clientIp(client.remoteAddress);
    if (cfg.access && !cfg.access.allows(clientIp)) {
      ctx.log.debug({ client: clientIp }, "access denied");
      client.destroy();
      return;
    }
    this.clients.add(client);
    ctx.counters.activeConnections++;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.clients.delete(client);
      ctx.counters.activeConnections--;
    };
    client.on("error", () => client.destroy());
    client.once("close", () => {
      if (!connected) release();
    });
    let connected = false;

    const failed = new Set<Backend>();
    const attempt = (): void => {
      if (client.destroyed) return;
      const backend = ctx.table.elect({ clientIp }, failed);
      if (!backend) {
        ctx.log.debug(
          { client: clientIp, tried: failed.size },
          "no backend available, closing client",
        );
        client.destroy();
        return;
      }
      const upstream = net.connect({
        host: backend.host,
        port: backend.port,
        allowHalfOpen: true,
        noDelay: true,
      });
      let timer: NodeJS.Timeout | undefined;
      if (cfg.connectTimeoutMs > 0) {
        timer = setTimeout(
          () => upstream.destroy(new Error("connect timeout")),
          cfg.connectTimeoutMs,
        );
      }
      const onConnectError = (err: Error): void => {
        if (timer) clearTimeout(timer);
        ctx.table.connectionRefused(backend);
        ctx.log.debug({ backend: backend.key, err: err.message }, "backend connect failed");
        failed.add(backend);
        if (failed.size <= cfg.retries) attempt();
        else client.destroy();
      };
      upstream.once("error", onConnectError);
      upstream.once("connect", () => {
        if (timer) clearTimeout(timer);
        upstream.off("error", onConnectError);
        ctx.table.connectionEstablished(backend);
        if (client.destroyed) {
          upstream.destroy();
          ctx.table.connectionClosed(backend);
          return;
        }
        connected = true;
        this.backendOf.set(client, backend);
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
        const counters = ctx.counters;
        relay(client, upstream, {
          clientIdleMs: cfg.clientIdleMs,
          backendIdleMs: cfg.backendIdleMs,
          onTx: (n) => {
            backend.txBytes += n;
            counters.txTotal += n;
          },
          onRx: (n) => {
            backend.rxBytes += n;
            counters.rxTotal += n;
          },
          onClose: () => {
            ctx.table.connectionClosed(backend);
            release();
          },
        });
      });
    };
    attempt();
  }
}
