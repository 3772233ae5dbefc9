// Invariants of the optimised TCP hot path (shared listeners, one socket timer per backend
// connection) that the main relay tests do not pin down.
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startBalancer, staticWebConfig } from "../support/balancer";
import { pseudoRandom, sha256, sleep, tcpServer, waitFor } from "../support/net";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe("tcp hot path", () => {
  it("the connect timeout does not outlive the connect: an idle relay stays open without idle timeouts", async () => {
    const echo = await tcpServer((s) => s.on("data", (d) => s.write(d)));
    cleanups.push(() => echo.close());
    const lb = await startBalancer(
      staticWebConfig(echo.port, `backend_connection_timeout = "150ms"`),
    );
    cleanups.push(() => lb.stop(0));
    const socket = net.connect(lb.port("web"), "127.0.0.1");
    cleanups.push(async () => void socket.destroy());
    let closed = false;
    let got = "";
    socket.on("close", () => (closed = true));
    socket.on("data", (d) => (got += d.toString()));
    await new Promise((r) => socket.once("connect", r));
    await sleep(500); // > 3 connect timeouts
    expect(closed).toBe(false);
    socket.write("still here");
    await waitFor(() => got === "still here", 2000, "echo after idling");
    expect(lb.server("web").stats().active_connections).toBe(1);
  });

  it("counts bytes per server and per backend, and releases the connection on close", async () => {
    const echo = await tcpServer((s) => {
      s.on("data", (d) => s.write(d));
      s.on("end", () => s.end());
    });
    cleanups.push(() => echo.close());
    const lb = await startBalancer(
      staticWebConfig(echo.port, `client_idle_timeout = "10s"\nbackend_idle_timeout = "10s"`),
    );
    cleanups.push(() => lb.stop(0));
    const socket = net.connect(lb.port("web"), "127.0.0.1");
    let got = 0;
    socket.on("data", (d) => (got += d.length));
    socket.write(Buffer.alloc(100_000, 1));
    await waitFor(() => got === 100_000, 5000, "echo of 100 kB");
    socket.end();
    const server = lb.server("web");
    await waitFor(() => server.stats().active_connections === 0, 5000, "release");
    const s = server.stats();
    expect(s.tx_total).toBe(100_000);
    expect(s.rx_total).toBe(100_000);
    expect(s.backends[0].stats.tx).toBe(100_000);
    expect(s.backends[0].stats.rx).toBe(100_000);
    expect(s.backends[0].stats.active_connections).toBe(0);
    expect(s.backends[0].stats.total_connections).toBe(1);
  });

  it("backend bytes reach a slow, pausing client intact (shared read buffer under backpressure)", async () => {
    const payload = pseudoRandom(12 * 1024 * 1024, 7);
    const source = await tcpServer((s) => s.end(payload));
    cleanups.push(() => source.close());
    const lb = await startBalancer(staticWebConfig(source.port, ""));
    cleanups.push(() => lb.stop(0));
    const socket = net.connect(lb.port("web"), "127.0.0.1");
    cleanups.push(async () => void socket.destroy());
    const chunks: Buffer[] = [];
    let received = 0;
    let pauses = 0;
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      received += d.length;
      if (received > (pauses + 1) * 2 * 1024 * 1024 && pauses < 5) {
        pauses++;
        socket.pause(); // let the proxy's writes to us queue up
        setTimeout(() => socket.resume(), 150);
      }
    });
    await new Promise<void>((resolve) => socket.on("end", () => resolve()));
    expect(pauses).toBe(5);
    expect(received).toBe(payload.length);
    expect(sha256(Buffer.concat(chunks))).toBe(sha256(payload));
    await waitFor(() => lb.server("web").stats().rx_total === payload.length, 2000, "rx count");
  });
});
