// Byte relay between a client socket and a backend socket.
// - 'data' handlers with pause()/resume() on the writer's backpressure: at most one socket
//   buffer (highWaterMark) is held per direction, no stream.pipe() machinery on the hot path.
// - Half-close in both directions: a FIN from one side is passed on with end(), the other
//   direction keeps flowing until it ends too (both sockets are created with allowHalfOpen).
// - Idle timeouts use socket.setTimeout, which counts reads and writes on that socket, so a long
//   one-way transfer is not cut (unlike gobetween's per-direction read deadlines, issue #35).
import type { Socket } from "node:net";

export interface RelayOptions {
  /** Close both sockets when the client socket sees no traffic for this long; 0 = never. */
  clientIdleMs: number;
  /** Close both sockets when the backend socket sees no traffic for this long; 0 = never. */
  backendIdleMs: number;
  /** Bytes sent to the backend (client → backend). */
  onTx: (bytes: number) => void;
  /** Bytes received from the backend (backend → client). */
  onRx: (bytes: number) => void;
  /** Called exactly once when both sockets are closed. */
  onClose: () => void;
}

export function relay(client: Socket, backend: Socket, opts: RelayOptions): void {
  let closed = 0;
  let finished = false;
  const { onTx, onRx } = opts;

  const destroyBoth = (): void => {
    client.destroy();
    backend.destroy();
  };
  const onSocketClose = (hadError: boolean): void => {
    closed++;
    // A clean close means both directions of that socket ended, so the other socket has already
    // been told (end()) and closes by itself once its buffer is flushed. A failed one takes the
    // pair down at once.
    if (hadError) destroyBoth();
    if (closed === 2 && !finished) {
      finished = true;
      opts.onClose();
    }
  };

  client.on("data", (chunk: Buffer) => {
    onTx(chunk.length);
    if (!backend.write(chunk)) client.pause();
  });
  backend.on("data", (chunk: Buffer) => {
    onRx(chunk.length);
    if (!client.write(chunk)) backend.pause();
  });
  backend.on("drain", () => client.resume());
  client.on("drain", () => backend.resume());

  client.on("end", () => backend.end());
  backend.on("end", () => client.end());

  client.on("error", destroyBoth);
  backend.on("error", destroyBoth);
  client.on("close", onSocketClose);
  backend.on("close", onSocketClose);

  if (opts.clientIdleMs > 0) {
    client.setTimeout(opts.clientIdleMs);
    client.on("timeout", destroyBoth);
  }
  if (opts.backendIdleMs > 0) {
    backend.setTimeout(opts.backendIdleMs);
    backend.on("timeout", destroyBoth);
  }
  // The client may have sent data before the backend connected; it waited in the socket.
  client.resume();
}
