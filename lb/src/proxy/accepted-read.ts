// Accepted sockets that read into a caller-supplied buffer (net.Socket's `onread`).
//
// Why: Node gives `onread` only to sockets it creates itself (net.connect), so an accepted
// socket allocates a fresh 64 KiB buffer per read and frees it at the next GC. glibc then often
// trims the top of its heap (brk) between GCs and the next reads fault the pages in again; the
// client → backend direction cost 1.2–1.8 CPU-s/GiB instead of ~0.75 (docs/benchmarks.md, "Bulk").
//
// How: the server is created with pauseOnConnect, so the accepted handle has not read yet. Its
// handle is detached from the socket Node made (`_handle = null`) and wrapped in a new
// net.Socket with `onread`. `_handle`, `_server` and the `pauseOnCreate` option are not public
// API, so probeAcceptedOnread() checks the whole technique on a real loopback connection at
// start-up and the relay falls back to 'data' events when it fails; a test fails loudly the day
// a Node release breaks it (test/lb/proxy/accepted-read.test.ts).
import net from "node:net";

/** The `onread` option of net.Socket: a buffer source and the read callback. */
export interface OnRead {
  buffer: () => Uint8Array;
  callback: (this: net.Socket, nread: number, buf: Buffer) => boolean;
}

type Internal = net.Socket & {
  _handle: object | null;
  _server: net.Server | null;
  server: net.Server | null;
};

/**
 * Re-creates an accepted, still paused socket on the same handle with `onread`. The new socket
 * stays paused until resume(); it takes over the server's connection count (server.close()'s
 * callback and getConnections() keep working). Returns the original socket when it has no handle.
 */
export function wrapAccepted(socket: net.Socket, onread: OnRead): net.Socket {
  const old = socket as Internal;
  const handle = old._handle;
  if (!handle) return socket;
  old._handle = null;
  const server = old._server;
  old._server = null;
  old.server = null;
  const wrapped = new net.Socket({
    handle,
    allowHalfOpen: true,
    readable: true,
    writable: true,
    // Not in the typings: the same option Node's own accept path passes for pauseOnConnect.
    pauseOnCreate: true,
    onread,
  } as net.SocketConstructorOpts) as Internal;
  wrapped.server = server;
  wrapped._server = server;
  return wrapped;
}

const PROBE_TIMEOUT_MS = 2000;

/**
 * Checks wrapAccepted() end to end on a loopback connection: nothing is read before resume(),
 * the bytes land in the supplied buffer, writes and half-close work in both directions, and the
 * server's connection count drops to zero once the socket closes. Resolves null when everything
 * holds, else the reason (for the log line naming the fallback).
 */
export function probeAcceptedOnread(): Promise<string | null> {
  return new Promise((resolve) => {
    const own = Buffer.allocUnsafeSlow(64);
    let settled = false;
    let client: net.Socket | undefined;
    const finish = (reason: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client?.destroy();
      server.close();
      resolve(reason);
    };
    // Success needs both: the client read "pong" and its end, and the accepted side closed with
    // the server's connection count back at zero.
    let checks = 0;
    const done = (): void => {
      if (++checks === 2) finish(null);
    };
    const timer = setTimeout(() => finish("probe timed out"), PROBE_TIMEOUT_MS);
    timer.unref();
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (accepted) => {
      let wrapped: net.Socket;
      let got = "";
      let early = false;
      let resumed = false;
      try {
        wrapped = wrapAccepted(accepted, {
          buffer: () => own,
          callback(nread, buf) {
            if (!resumed) early = true;
            if (buf.buffer !== own.buffer) early = true;
            got += buf.toString("latin1", 0, nread);
            return true;
          },
        });
      } catch (err) {
        finish(`wrapping the accepted handle failed: ${(err as Error).message}`);
        return;
      }
      if (wrapped === accepted) {
        finish("the accepted socket has no _handle");
        return;
      }
      wrapped.on("error", (err) => finish(`socket error: ${err.message}`));
      wrapped.on("end", () => {
        if (early) finish("data was read before resume() or outside the supplied buffer");
        else if (got !== "ping") finish(`read ${JSON.stringify(got)}, expected "ping"`);
        else wrapped.end("pong");
      });
      wrapped.on("close", () => {
        server.getConnections((err, n) => {
          if (err || n !== 0) finish(`server connection count ${n} after close, expected 0`);
          else done();
        });
      });
      // Give the client's bytes time to arrive: a socket that reads while "paused" shows here.
      setTimeout(() => {
        resumed = true;
        wrapped.resume();
      }, 20).unref();
    });
    server.on("error", (err) => finish(`probe listener: ${err.message}`));
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      let reply = "";
      client = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
      client.on("error", (err) => finish(`probe client: ${err.message}`));
      client.on("data", (d) => (reply += d.toString("latin1")));
      client.on("end", () => {
        if (reply !== "pong") finish(`reply ${JSON.stringify(reply)}, expected "pong"`);
        else done();
      });
      client.end("ping");
    });
  });
}
