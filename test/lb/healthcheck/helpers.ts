import { spawn, spawnSync } from "node:child_process";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";

export async function tcpServer(onConn: (s: Socket) => void = () => {}): Promise<{
  server: Server;
  port: number;
  sockets: Set<Socket>;
  close: () => Promise<void>;
}> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    s.resume(); // notice the peer's close even when the test reads nothing
    onConn(s);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { server, port, sockets, close };
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const { port, close } = await tcpServer();
  await close();
  return port;
}

export async function udpServer(
  onMessage: (msg: Buffer, reply: (b: Buffer) => void) => void,
): Promise<{ socket: UdpSocket; port: number; close: () => Promise<void> }> {
  const socket = createSocket("udp4");
  socket.on("message", (msg, rinfo) => {
    onMessage(msg, (b) => socket.send(b, rinfo.port, rinfo.address));
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const port = socket.address().port;
  return {
    socket,
    port,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

export async function timed<T>(p: Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await p;
  return { value, ms: performance.now() - t0 };
}

export const hasPython = spawnSync("python3", ["-c", "pass"]).status === 0;

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

/** True while `pid` exists and is not a zombie (PID 1 here may not reap orphans). */
export function processRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}
