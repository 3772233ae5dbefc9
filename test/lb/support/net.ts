// Real-socket helpers for balancer tests. Everything binds to loopback on ephemeral ports.

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import dgram from "node:dgram";
import net from "node:net";

export interface TestTcpServer {
  server: net.Server;
  port: number;
  /** Every connection accepted so far. */
  connections: net.Socket[];
  /** The connections still open. */
  live: Set<net.Socket>;
  close(): Promise<void>;
}

/**
 * A TCP server on 127.0.0.1 (port 0 unless `port`) that runs `handler` for each connection.
 * `resume` reads and drops what clients send, so a peer's close is noticed even when the test
 * reads nothing.
 */
export async function tcpServer(
  handler: (socket: net.Socket) => void = () => {},
  opts: { host?: string; port?: number; allowHalfOpen?: boolean; resume?: boolean } = {},
): Promise<TestTcpServer> {
  const connections: net.Socket[] = [];
  const live = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: opts.allowHalfOpen ?? true }, (socket) => {
    connections.push(socket);
    live.add(socket);
    socket.on("close", () => live.delete(socket));
    socket.on("error", () => {});
    if (opts.resume) socket.resume();
    handler(socket);
  });
  await new Promise<void>((resolve) =>
    server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", resolve),
  );
  const port = (server.address() as net.AddressInfo).port;
  return {
    server,
    port,
    connections,
    live,
    close: () =>
      new Promise((resolve) => {
        for (const c of connections) c.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A backend that answers every connection with `name\n` and closes: tells who served. */
export function nameServer(name: string, port?: number): Promise<TestTcpServer> {
  return tcpServer((socket) => socket.end(`${name}\n`), { port });
}

/** A port on which nothing listens (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Connects, optionally writes, reads until the peer closes; resolves with everything read. */
export function request(
  port: number,
  payload?: string | Buffer,
  opts: { host?: string; timeoutMs?: number } = {},
): Promise<{ data: string; error?: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ port, host: opts.host ?? "127.0.0.1", allowHalfOpen: true });
    const timer = setTimeout(
      () => socket.destroy(new Error("test timeout")),
      opts.timeoutMs ?? 5000,
    );
    let error: string | undefined;
    socket.on("connect", () => {
      if (payload !== undefined) socket.end(payload);
    });
    socket.on("data", (c) => chunks.push(c));
    socket.on("error", (e) => {
      error = e.message;
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks).toString(), error });
    });
    socket.on("end", () => socket.end());
  });
}

/** Deterministic pseudo-random bytes (xorshift), so big payloads cost no entropy. */
export function pseudoRandom(size: number, seed: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    buf.writeUInt32LE(x, i);
  }
  for (let i = size - (size % 4); i < size; i++) buf[i] = i & 0xff;
  return buf;
}

export function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Writes `data` in chunks honouring backpressure, then ends the write side. */
export function writeAll(socket: net.Socket, data: Buffer, chunk = 256 * 1024): void {
  let offset = 0;
  const pump = (): void => {
    while (offset < data.length) {
      const slice = data.subarray(offset, offset + chunk);
      offset += slice.length;
      if (!socket.write(slice)) {
        socket.once("drain", pump);
        return;
      }
    }
    socket.end();
  };
  pump();
}

export interface UdpEcho {
  socket: dgram.Socket;
  port: number;
  received: Array<{ msg: string; from: string }>;
  close(): Promise<void>;
}

/** A UDP server replying `<name>:<message>` `replies` times to every packet. */
export async function udpEcho(name: string, replies = 1): Promise<UdpEcho> {
  const socket = dgram.createSocket("udp4");
  const received: UdpEcho["received"] = [];
  socket.on("message", (msg, rinfo) => {
    received.push({ msg: msg.toString(), from: `${rinfo.address}:${rinfo.port}` });
    for (let i = 0; i < replies; i++) socket.send(`${name}:${msg}`, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", r));
  return {
    socket,
    port: socket.address().port,
    received,
    close: () => new Promise((r) => socket.close(() => r())),
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Polls `predicate` every `pollMs` (20) until true or `timeoutMs` passes; resolves with the ms
 * it took.
 */
export async function waitFor(
  predicate: () => boolean,
  timeoutMs = 5000,
  what = "condition",
  pollMs = 20,
): Promise<number> {
  const t0 = Date.now();
  while (!predicate()) {
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(pollMs);
  }
  return Date.now() - t0;
}

// Listens with backlog 0 and fills the accept queue itself without ever accepting, so that
// further connects to the port hang (the kernel drops their SYNs).
const HANG_SERVER = `
import socket, sys
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(0)
fill = []
for _ in range(4):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(srv.getsockname())
    except BlockingIOError: pass
    fill.append(c)
print(srv.getsockname()[1], flush=True)
sys.stdin.read()
`;

/** A 127.0.0.1 port on which TCP connects hang (needs python3). */
export async function hangingPort(): Promise<{ port: number; close: () => void }> {
  const child = spawn("python3", ["-c", HANG_SERVER], { stdio: ["pipe", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once("error", reject);
  });
  return { port, close: () => child.kill("SIGKILL") };
}

// Binds a TCP socket without listening: connects to its port are refused, and no other process
// can take the port meanwhile (a port freed by closedPort() can be reused under parallel tests).
const REFUSING_SOCKET = `
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
sys.stdin.read()
`;

/** A 127.0.0.1 port that refuses connections for as long as it is held (needs python3). */
export async function refusingPort(): Promise<{ port: number; close: () => void }> {
  const child = spawn("python3", ["-c", REFUSING_SOCKET], { stdio: ["pipe", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once("error", reject);
  });
  return { port, close: () => child.kill("SIGKILL") };
}
