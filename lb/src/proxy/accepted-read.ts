// Accepted sockets that read into a caller-supplied buffer (net.Socket's `onread`).
//
// Why: Node gives `onread` only to sockets it creates itself (net.connect), so an accepted
// socket allocates a fresh 64 KiB buffer per read and frees it at the next GC. glibc then often
// trims the top of its heap (brk) between GCs and the next reads fault the pages in again; the
// client → backend direction cost 1.2–1.8 CPU-s/GiB instead of ~0.75 (docs/benchmarks.md, "Bulk").
//
// How: the server is created with pauseOnConnect, so the accepted handle has not read yet. The
// socket is switched to `onread` in place, the way net.Socket's constructor does it for the
// `onread` option: its kBuffer/kBufferGen/kBufferCb fields are set and its handle is told to
// read into the buffer (useUserBuffer). An earlier version detached the handle and wrapped it in
// a second net.Socket; the discarded socket showed as 2 KiB more RSS per idle connection until
// the next GC. The fields are module-private symbols of node:net (found by their description)
// and useUserBuffer is a handle method, none of them public API, so probeAcceptedOnread() checks
// the whole technique on a real loopback connection at start-up and the relay falls back to
// 'data' events when it fails; a test fails loudly the day a Node release breaks it
// (test/lb/proxy/client-read.test.ts).
import net from "node:net";

/** The `onread` option of net.Socket: a buffer source and the read callback. */
export interface OnRead {
  buffer: () => Uint8Array;
  callback: (this: net.Socket, nread: number, buf: Buffer) => boolean;
}

type Internal = net.Socket & {
  _handle: { useUserBuffer?: (buf: Uint8Array) => void } | null;
} & Record<symbol, unknown>;

interface Fields {
  kBuffer: symbol;
  kBufferGen: symbol;
  kBufferCb: symbol;
}

let fields: Fields | null | undefined;

/** node:net's private onread fields, found on a fresh socket by their descriptions. */
function onreadFields(): Fields | null {
  if (fields !== undefined) return fields;
  const found = new Map<string, symbol>();
  for (const sym of Object.getOwnPropertySymbols(new net.Socket())) {
    if (sym.description) found.set(sym.description, sym);
  }
  const kBuffer = found.get("kBuffer");
  const kBufferGen = found.get("kBufferGen");
  const kBufferCb = found.get("kBufferCb");
  fields = kBuffer && kBufferGen && kBufferCb ? { kBuffer, kBufferGen, kBufferCb } : null;
  return fields;
}

/**
 * Switches an accepted, still paused socket to read through `onread`. It stays paused until
 * resume(). Returns false (socket unchanged) when node:net does not have the fields or the
 * handle the technique needs.
 */
export function readAcceptedInto(socket: net.Socket, onread: OnRead): boolean {
  const f = onreadFields();
  const s = socket as Internal;
  const handle = s._handle;
  if (!f || !handle || typeof handle.useUserBuffer !== "function") return false;
  const first = onread.buffer();
  s[f.kBuffer] = first;
  s[f.kBufferGen] = onread.buffer;
  s[f.kBufferCb] = onread.callback;
  handle.useUserBuffer(first);
  return true;
}

const PROBE_TIMEOUT_MS = 2000;

/**
 * Checks readAcceptedInto() end to end on a loopback connection: nothing is read before resume(),
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
      let got = "";
      let early = false;
      let resumed = false;
      let switched = false;
      try {
        switched = readAcceptedInto(accepted, {
          buffer: () => own,
          callback(nread, buf) {
            if (!resumed) early = true;
            if (buf.buffer !== own.buffer) early = true;
            got += buf.toString("latin1", 0, nread);
            return true;
          },
        });
      } catch (err) {
        finish(`switching the accepted socket to onread failed: ${(err as Error).message}`);
        return;
      }
      if (!switched) {
        finish("node:net has no kBuffer/kBufferGen/kBufferCb fields or no handle.useUserBuffer");
        return;
      }
      // 'data' events would mean the bytes bypassed the supplied buffer.
      accepted.on("data", () => {
        early = true;
      });
      accepted.on("error", (err) => finish(`socket error: ${err.message}`));
      accepted.on("end", () => {
        if (early) finish("data was read before resume() or outside the supplied buffer");
        else if (got !== "ping") finish(`read ${JSON.stringify(got)}, expected "ping"`);
        else accepted.end("pong");
      });
      accepted.on("close", () => {
        server.getConnections((err, n) => {
          if (err || n !== 0) finish(`server connection count ${n} after close, expected 0`);
          else done();
        });
      });
      // Give the client's bytes time to arrive: a socket that reads while "paused" shows here.
      setTimeout(() => {
        resumed = true;
        accepted.resume();
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
