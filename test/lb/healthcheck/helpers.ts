import { spawnSync } from "node:child_process";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import type { Socket } from "node:net";
import { tcpServer as sharedTcpServer, type TestTcpServer } from "../support/net";

/** A backend for checks: reads what a probe sends, so it sees the checker's close at once. */
export function tcpServer(onConn: (s: Socket) => void = () => {}): Promise<TestTcpServer> {
  return sharedTcpServer(onConn, { resume: true, allowHalfOpen: false });
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

/**
 * python3 makes the hanging port. In CI it must be there (a missing one fails the tests that
 * need it); elsewhere they skip without it.
 */
export const hasPython =
  spawnSync("python3", ["-c", "pass"]).status === 0 || Boolean(process.env.CI);

export { hangingPort } from "../support/net";

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
