// Byte relay between a client socket and a backend socket.
// - Both directions read through `onread` into a shared, reused buffer (BACKEND_READ for backend
//   sockets, CLIENT_READ for accepted sockets, see accepted-read.ts); a false return
//   stops reading until 'drain' on the writer resumes it. When the start-up probe found that
//   accepted sockets cannot read through onread, the client side falls back to 'data' events with
//   pause()/resume(). No stream.pipe() machinery on the hot path.
// - Half-close in both directions: a FIN from one side is passed on with end(), the other
//   direction keeps flowing until it ends too (both sockets are created with allowHalfOpen).
// - Idle timeouts use socket.setTimeout, which counts reads and writes on that socket, so a long
//   one-way transfer is not cut (unlike gobetween's per-direction read deadlines, issue #35).
// - Hot path: the handlers below are shared by every connection (no closures per connection);
//   each socket points at its RelayPair through one symbol property. This halves the objects
//   allocated per connection and the memory an idle connection holds (see docs/benchmarks.md).
import type { Socket } from "node:net";
import { destroyNative, relayNatively } from "./native-relay";

const kPair = Symbol("geoswarm.relayPair");

type PairedSocket = Socket & { [kPair]?: RelayPair };

/**
 * One client connection and, once connected, its backend socket. Subclasses count the bytes and
 * learn when both sockets are closed. The client's 'error' and 'close' listeners are installed
 * by attachClient() as soon as the connection is accepted; relay() adds the rest once the
 * backend is connected.
 */
export abstract class RelayPair {
  /** The backend socket; null until a connect attempt starts. */
  upstream: Socket | null = null;
  /** True from relay() on: errors and closes are handled as a pair. */
  relaying = false;
  private closedSockets = 0;
  private finished = false;
  /** The client's own read buffers while it streams (CLIENT_READ); null: it reads into SHARED. */
  clientBuffers: OwnBuffers | null = null;
  /** The backend's own read buffers while it streams (BACKEND_READ). */
  backendBuffers: OwnBuffers | null = null;

  /**
   * @param clientOnread the client socket reads through CLIENT_READ (accepted-read.ts), so no
   * 'data' listener is installed for it.
   */
  constructor(
    readonly client: Socket,
    private readonly clientOnread = false,
  ) {}

  /** Bytes sent to the backend (client → backend). */
  abstract onTx(bytes: number): void;
  /** Bytes received from the backend (backend → client). */
  abstract onRx(bytes: number): void;
  /** Called exactly once when both sockets are closed (relaying only). */
  abstract onRelayClosed(): void;
  /** The client closed before relaying started. */
  abstract onClientClosedEarly(): void;

  /** Installs the client's error/close listeners; call once, right after accept. */
  attachClient(): void {
    (this.client as PairedSocket)[kPair] = this;
    this.client.on("error", onClientError);
    this.client.on("close", onClientClose);
  }

  destroyBoth(): void {
    if (destroyNative(this)) return;
    this.client.destroy();
    this.upstream?.destroy();
  }

  /** Starts relaying between the client and the connected `upstream`. */
  relay(upstream: Socket, clientIdleMs: number, backendIdleMs: number): void {
    this.upstream = upstream;
    this.relaying = true;
    // The native data path (GEOSWARM_LB_NATIVE, lb/native) takes the pair over when it can.
    if (relayNatively(this, upstream, clientIdleMs, backendIdleMs)) return;
    (upstream as PairedSocket)[kPair] = this;
    const client = this.client;
    if (!this.clientOnread) client.on("data", onClientData);
    // Backend bytes arrive through BACKEND_READ (net.connect's onread), not 'data' events.
    upstream.on("drain", onBackendDrain);
    client.on("drain", onClientDrain);
    client.on("end", onClientEnd);
    upstream.on("end", onBackendEnd);
    upstream.on("error", onPairError);
    upstream.on("close", onSocketClose);
    if (clientIdleMs > 0) {
      client.setTimeout(clientIdleMs);
      client.on("timeout", onPairError);
    }
    // The connect timeout (if any) is replaced by the idle timeout, or cleared.
    upstream.setTimeout(backendIdleMs);
    if (backendIdleMs > 0) upstream.on("timeout", onPairError);
    // The client may have sent data before the backend connected; it waited in the socket.
    client.resume();
    // Flowing mode for the backend's readable side too, so its FIN is seen as 'end'.
    upstream.resume();
  }

  /** One of the two sockets closed (relaying). */
  socketClosed(hadError: boolean): void {
    this.closedSockets++;
    // A clean close means both directions of that socket ended, so the other socket has already
    // been told (end()) and closes by itself once its buffer is flushed. A failed one takes the
    // pair down at once.
    if (hadError) this.destroyBoth();
    if (this.closedSockets === 2 && !this.finished) {
      this.finished = true;
      this.onRelayClosed();
    }
  }
}

/** The pair a socket belongs to (set by attachClient/relay). */
export function pairOf(socket: Socket): RelayPair | undefined {
  return (socket as PairedSocket)[kPair];
}

// Shared listeners: `this` is the socket that emitted the event.

function onClientData(this: PairedSocket, chunk: Buffer): void {
  const pair = this[kPair] as RelayPair;
  pair.onTx(chunk.length);
  if (!(pair.upstream as Socket).write(chunk)) this.pause();
}

/**
 * Read buffers. Node's own reads allocate a fresh 64 KiB buffer per read and free it only at the
 * next GC; glibc returning that memory to the kernel in between made every relayed GiB fault its
 * pages in again (docs/benchmarks.md, "Bulk"). With `onread`, each socket's handle instead keeps
 * one buffer and reads into it again and again, until the read callback names another one.
 *
 * - Every socket starts on SHARED. Many handles hold SHARED at once, so its bytes must never stay
 *   in a write queue (another socket's next read would overwrite them): a read into SHARED is
 *   written as a copy. Small reads (requests, replies) cost a small copy and no memory per socket.
 * - A read of STREAMING_READ bytes or more moves that socket to buffers of its own (OwnBuffers),
 *   written without a copy. When a write keeps part of one in the queue, the next read goes into
 *   the spare; the spare is known to be free when the queue was empty before that write. Else a
 *   new buffer is taken and the queued one is left to the queue (and the GC).
 * - A read under SMALL_READ moves the socket back to SHARED, so a socket that streamed once and
 *   went quiet does not keep 128 KiB.
 */
const READ_BUFFER_SIZE = 64 * 1024;
const STREAMING_READ = 16 * 1024;
const SMALL_READ = 4 * 1024;
const SHARED = Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);

/** A streaming socket's own read buffers. */
class OwnBuffers {
  constructor(
    public current: Buffer,
    public spare: Buffer | null,
  ) {}
}

/**
 * The buffer for the next read of the socket whose callback just ran. Node calls the `buffer`
 * function right after the callback (and once when the socket is created), without `this`, so
 * the callback leaves its choice here.
 */
let chosen: Buffer | null = null;
let forwardOk = true;

function nextReadBuffer(): Buffer {
  const buf = chosen ?? SHARED;
  chosen = null;
  return buf;
}

/**
 * Writes one read to `to` and picks the reading socket's next buffer (left in `chosen`); returns
 * the socket's own buffers from now on. `forwardOk` is false when `to` is full (the reading socket
 * then stops reading until 'drain'): a module variable, so no result object per read.
 */
function forward(
  own: OwnBuffers | null,
  to: Socket,
  nread: number,
  buf: Buffer,
): OwnBuffers | null {
  if (buf === SHARED) {
    forwardOk = to.write(Buffer.from(buf.subarray(0, nread)));
    if (nread < STREAMING_READ) return own;
    own ??= new OwnBuffers(Buffer.allocUnsafeSlow(READ_BUFFER_SIZE), null);
    chosen = own.current;
    return own;
  }
  // `buf` is this socket's own current buffer.
  const before = to.writableLength;
  forwardOk = to.write(buf.subarray(0, nread));
  const o = own as OwnBuffers;
  if (to.writableLength > before) {
    // The queue keeps (part of) `buf`.
    const next = before === 0 && o.spare ? o.spare : Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
    o.spare = buf;
    o.current = next;
  }
  if (nread < SMALL_READ) return null; // back to SHARED (chosen stays null)
  chosen = o.current;
  return o;
}

function onBackendRead(this: PairedSocket, nread: number, buf: Buffer): boolean {
  const pair = this[kPair];
  if (!pair?.relaying) {
    // Nothing can arrive before relay() (reading starts after 'connect'); drop it defensively.
    return true;
  }
  pair.onRx(nread);
  pair.backendBuffers = forward(pair.backendBuffers, pair.client, nread, buf);
  // false: Node stops reading this socket until resume() ('drain' on the client).
  return forwardOk;
}

function onClientRead(this: PairedSocket, nread: number, buf: Buffer): boolean {
  const pair = this[kPair];
  if (!pair?.relaying) {
    // The client stays paused until relay(); bytes read earlier could not be passed on intact.
    this.destroy();
    return false;
  }
  pair.onTx(nread);
  pair.clientBuffers = forward(pair.clientBuffers, pair.upstream as Socket, nread, buf);
  return forwardOk;
}

/** `onread` option for backend sockets created with net.connect(). */
export const BACKEND_READ = { buffer: nextReadBuffer, callback: onBackendRead };

/** `onread` for accepted client sockets (accepted-read.ts readAcceptedInto). */
export const CLIENT_READ = { buffer: nextReadBuffer, callback: onClientRead };

function onBackendDrain(this: PairedSocket): void {
  (this[kPair] as RelayPair).client.resume();
}

function onClientDrain(this: PairedSocket): void {
  (this[kPair] as RelayPair).upstream?.resume();
}

function onClientEnd(this: PairedSocket): void {
  (this[kPair] as RelayPair).upstream?.end();
}

function onBackendEnd(this: PairedSocket): void {
  (this[kPair] as RelayPair).client.end();
}

/** error or idle timeout of either socket while relaying: both go down. */
function onPairError(this: PairedSocket): void {
  (this[kPair] as RelayPair).destroyBoth();
}

function onSocketClose(this: PairedSocket, hadError: boolean): void {
  (this[kPair] as RelayPair).socketClosed(hadError);
}

function onClientError(this: PairedSocket): void {
  const pair = this[kPair] as RelayPair;
  if (pair.relaying) pair.destroyBoth();
  else this.destroy();
}

function onClientClose(this: PairedSocket, hadError: boolean): void {
  const pair = this[kPair] as RelayPair;
  if (pair.relaying) pair.socketClosed(hadError);
  else pair.onClientClosedEarly();
}
