// Byte relay between a client socket and a backend socket.
// - Client → backend: 'data' handlers with pause()/resume() on the writer's backpressure; backend
//   → client: the backend socket's `onread` into a shared buffer (BACKEND_READ). At most one
//   socket buffer is held per direction, no stream.pipe() machinery on the hot path.
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

  constructor(readonly client: Socket) {}

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
    client.on("data", onClientData);
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
 * Backend → client reads go into one shared buffer instead of a fresh 64 KiB allocation per read:
 * Node frees those only at the next GC, and the allocator returning that memory to the kernel in
 * between made every relayed GiB page-fault in again (docs/benchmarks.md, "Bulk"). The buffer is
 * safe to reuse once the write to the client completed synchronously; when the write was queued
 * instead, the queue keeps that buffer and later reads use a new one.
 */
const READ_BUFFER_SIZE = 64 * 1024;
let sharedReadBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);

function nextReadBuffer(): Buffer {
  return sharedReadBuffer;
}

function onBackendRead(this: PairedSocket, nread: number, buf: Buffer): boolean {
  const pair = this[kPair];
  if (!pair?.relaying) {
    // Nothing can arrive before relay() (reading starts after 'connect'); drop it defensively.
    return true;
  }
  pair.onRx(nread);
  const client = pair.client;
  const queued = client.writableLength;
  const ok = client.write(buf.subarray(0, nread));
  if (buf === sharedReadBuffer && client.writableLength > queued) {
    sharedReadBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_SIZE); // the write queue keeps `buf`
  }
  // false: Node stops reading this socket until resume() ('drain' on the client).
  return ok;
}

/** `onread` option for backend sockets created with net.connect(). */
export const BACKEND_READ = { buffer: nextReadBuffer, callback: onBackendRead };

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
