// UDP front end: one session per client ip:port, each with a connected socket to its elected
// backend. Replies go back to the client from the listening socket, so they come from the bind
// address.
//
// Session rules (gobetween's keys, enforced as documented, which gobetween 0.8.2 does not):
// - client_idle_timeout: the session ends when the client has sent nothing for that long.
// - backend_idle_timeout: the session ends when the backend has replied nothing for that long.
// - max_requests = N: after the N-th client packet the session retires: the client's next packet
//   opens a new session (new election); the retired one only waits for replies.
// - max_responses = N: the session ends after relaying N replies.
// A retired session ends after max_responses replies, or when no reply came for
// backend_idle_timeout (client_idle_timeout, else 2 s, when that is unset).
import dgram from "node:dgram";
import { isIPv6 } from "node:net";
import { unbracketHost } from "../config/address";
import type { Backend } from "../core/backend";
import { ActiveSet } from "./active-set";
import type { FrontendSettings, ProxyContext } from "./context";

const RETIRED_REPLY_WAIT_MS = 2000;
/** Packets held per session while its backend socket connects. */
const MAX_PENDING_PACKETS = 1024;

interface Session {
  key: string;
  clientAddress: string;
  clientPort: number;
  backend: Backend;
  /** Settings when the session opened: an in-place update applies to new sessions only. */
  cfg: FrontendSettings;
  socket: dgram.Socket;
  connected: boolean;
  pending: Buffer[];
  requests: number;
  responses: number;
  retired: boolean;
  clientTimer?: NodeJS.Timeout;
  backendTimer?: NodeJS.Timeout;
  closed: boolean;
}

export class UdpFrontend {
  private socket!: dgram.Socket;
  private readonly sessions = new Map<string, Session>();
  /** Every open session, including retired ones. */
  private readonly open = new ActiveSet<Session>();
  private accepting = true;

  constructor(private readonly ctx: ProxyContext) {}

  listen(host: string, port: number): Promise<void> {
    const type = host && isIPv6(host) ? "udp6" : "udp4";
    this.socket = dgram.createSocket({ type, reuseAddr: false });
    return new Promise((resolve, reject) => {
      this.socket.once("error", reject);
      this.socket.bind({ address: host || undefined, port }, () => {
        this.socket.off("error", reject);
        this.socket.on("error", (err) =>
          this.ctx.log.error({ err: err.message }, "udp socket error"),
        );
        this.socket.on("message", (msg, rinfo) => this.onClientPacket(msg, rinfo));
        resolve();
      });
    });
  }

  address(): { address: string; port: number } {
    return this.socket.address();
  }

  /**
   * Stops opening sessions. The listening socket stays open while sessions remain, because their
   * replies leave through it; it closes once the last session ends.
   */
  stopAccepting(): Promise<void> {
    if (!this.accepting) return Promise.resolve();
    this.accepting = false;
    void this.open.waitEmpty(Number.POSITIVE_INFINITY).then(() => {
      try {
        this.socket.close();
      } catch {
        // never bound, or already closed
      }
    });
    return Promise.resolve();
  }

  /** Resolves true when every session has ended, false after `deadlineMs`. */
  waitIdle(deadlineMs: number): Promise<boolean> {
    return this.open.waitEmpty(deadlineMs);
  }

  destroyAll(): void {
    for (const s of this.open.snapshot()) this.closeSession(s);
  }

  /** Ends the sessions bound to one backend; returns how many. */
  closeBackendConnections(key: string): number {
    let n = 0;
    for (const s of this.open.snapshot()) {
      if (s.backend.key === key) {
        this.closeSession(s);
        n++;
      }
    }
    return n;
  }

  private onClientPacket(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const ctx = this.ctx;
    const key = `${rinfo.address}:${rinfo.port}`;
    let session = this.sessions.get(key);
    if (!session) {
      if (!this.accepting) return;
      const cfg = ctx.config();
      const clientIp = ctx.clientIp(rinfo.address);
      if (cfg.access && !cfg.access.allows(clientIp)) return;
      // Counted per server: sessions of a listener draining after a re-bind count too.
      if (cfg.maxConnections > 0 && ctx.counters.activeConnections >= cfg.maxConnections) return;
      const created = this.openSession(key, rinfo, clientIp, cfg);
      if (!created) return;
      session = created;
    }
    this.sendToBackend(session, msg);
    session.requests++;
    if (session.clientTimer) session.clientTimer.refresh();
    const max = session.cfg.maxRequests;
    if (max > 0 && session.requests >= max) this.retire(session);
  }

  private openSession(
    key: string,
    rinfo: dgram.RemoteInfo,
    clientIp: string,
    cfg: FrontendSettings,
  ): Session | undefined {
    const ctx = this.ctx;
    const backend = ctx.table.elect({ clientIp });
    if (!backend) return undefined;
    const socket = dgram.createSocket(backend.host.includes(":") ? "udp6" : "udp4");
    const session: Session = {
      key,
      clientAddress: rinfo.address,
      clientPort: rinfo.port,
      backend,
      cfg,
      socket,
      connected: false,
      pending: [],
      requests: 0,
      responses: 0,
      retired: false,
      closed: false,
    };
    this.sessions.set(key, session);
    this.open.add(session);
    ctx.counters.activeConnections++;
    ctx.shared?.tryAcquireServer(0);
    if (cfg.clientIdleMs > 0) {
      session.clientTimer = setTimeout(() => this.closeSession(session), cfg.clientIdleMs);
    }
    this.armBackendTimer(session);

    socket.on("error", (err) => {
      if (session.closed) return;
      ctx.log.debug({ backend: backend.key, err: err.message }, "udp backend socket error");
      if (!session.connected) ctx.table.connectionRefused(backend);
      this.closeSession(session, !session.connected);
    });
    socket.on("message", (reply) => this.onBackendPacket(session, reply));
    const host = unbracketHost(backend.host);
    socket.connect(backend.port, host, () => {
      if (session.closed) return;
      session.connected = true;
      ctx.table.connectionEstablished(backend);
      for (const packet of session.pending) this.sendToBackend(session, packet);
      session.pending = [];
    });
    return session;
  }

  private sendToBackend(session: Session, msg: Buffer): void {
    if (session.closed) return;
    if (!session.connected) {
      if (session.pending.length < MAX_PENDING_PACKETS) session.pending.push(msg);
      return;
    }
    session.backend.txBytes += msg.length;
    this.ctx.counters.txTotal += msg.length;
    session.socket.send(msg);
  }

  private onBackendPacket(session: Session, reply: Buffer): void {
    if (session.closed) return;
    session.responses++;
    session.backend.rxBytes += reply.length;
    this.ctx.counters.rxTotal += reply.length;
    this.socket.send(reply, session.clientPort, session.clientAddress);
    if (session.backendTimer) session.backendTimer.refresh();
    const max = session.cfg.maxResponses;
    if (max > 0 && session.responses >= max) this.closeSession(session);
  }

  private armBackendTimer(session: Session): void {
    const cfg = session.cfg;
    const wait = session.retired
      ? cfg.backendIdleMs || cfg.clientIdleMs || RETIRED_REPLY_WAIT_MS
      : cfg.backendIdleMs;
    if (session.backendTimer) clearTimeout(session.backendTimer);
    session.backendTimer =
      wait > 0 ? setTimeout(() => this.closeSession(session), wait) : undefined;
  }

  private retire(session: Session): void {
    if (session.retired) return;
    session.retired = true;
    if (this.sessions.get(session.key) === session) this.sessions.delete(session.key);
    if (session.clientTimer) clearTimeout(session.clientTimer);
    session.clientTimer = undefined;
    this.armBackendTimer(session);
  }

  private closeSession(session: Session, refused = false): void {
    if (session.closed) return;
    session.closed = true;
    if (session.clientTimer) clearTimeout(session.clientTimer);
    if (session.backendTimer) clearTimeout(session.backendTimer);
    if (this.sessions.get(session.key) === session) this.sessions.delete(session.key);
    this.open.delete(session);
    this.ctx.counters.activeConnections--;
    this.ctx.shared?.releaseServer();
    if (!refused) this.ctx.table.connectionClosed(session.backend);
    try {
      session.socket.close();
    } catch {
      // already closed
    }
  }
}
