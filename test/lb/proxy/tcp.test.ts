// TCP data path through a real in-process balancer, real sockets on loopback.
import { createHash } from "node:crypto";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type RunningBalancer, startBalancer } from "../support/balancer";
import {
  hangingPort,
  nameServer,
  pseudoRandom,
  refusingPort,
  request,
  sha256,
  sleep,
  tcpServer,
  waitFor,
  writeAll,
} from "../support/net";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
function track<T extends { close(): Promise<void> } | RunningBalancer>(x: T): T {
  cleanups.push(() => ("stop" in x ? x.stop(0) : (x as { close(): Promise<void> }).close()));
  return x;
}

function tcpConfig(backends: string[], extra = ""): string {
  return `
[servers.web]
bind = "127.0.0.1:0"
protocol = "tcp"
${extra}
[servers.web.discovery]
kind = "static"
static_list = ${JSON.stringify(backends)}
`;
}

describe("tcp relay", () => {
  it("carries 50 MB each way at once with matching SHA-256, the client's FIN not cutting the reply", async () => {
    const SIZE = 50 * 1024 * 1024;
    const upload = pseudoRandom(SIZE, 7);
    const download = pseudoRandom(SIZE, 11);
    let backendGot = "";
    const backend = track(
      await tcpServer((socket) => {
        const hash = createHash("sha256");
        socket.on("data", (c: Buffer) => hash.update(c));
        socket.on("end", () => {
          backendGot = hash.digest("hex");
        });
        writeAll(socket, download);
      }),
    );
    const lb = track(await startBalancer(tcpConfig([`127.0.0.1:${backend.port}`])));
    const clientGot = await new Promise<string>((resolve, reject) => {
      const hash = createHash("sha256");
      const socket = net.connect({ port: lb.port("web"), host: "127.0.0.1", allowHalfOpen: true });
      socket.on("connect", () => writeAll(socket, upload));
      socket.on("data", (c: Buffer) => hash.update(c));
      socket.on("end", () => resolve(hash.digest("hex")));
      socket.on("error", reject);
    });
    await waitFor(() => backendGot !== "", 10_000, "backend to see the upload's end");
    expect(backendGot).toBe(sha256(upload));
    expect(clientGot).toBe(sha256(download));
    const stats = lb.server("web").stats();
    expect(stats.tx_total).toBe(SIZE);
    expect(stats.rx_total).toBe(SIZE);
  });

  it("passes half-close: the backend answers after the client has sent FIN", async () => {
    const backend = track(
      await tcpServer((socket) => {
        let got = "";
        socket.on("data", (c) => {
          got += c;
        });
        socket.on("end", () => setTimeout(() => socket.end(`reply to ${got}`), 200));
      }),
    );
    const lb = track(await startBalancer(tcpConfig([`127.0.0.1:${backend.port}`])));
    const res = await request(lb.port("web"), "question");
    expect(res.error).toBeUndefined();
    expect(res.data).toBe("reply to question");
  });

  it("passes half-close the other way: the client keeps sending after the backend's FIN", async () => {
    let received = "";
    const backend = track(
      await tcpServer((socket) => {
        socket.end("early-bye");
        socket.on("data", (c) => {
          received += c;
        });
      }),
    );
    const lb = track(await startBalancer(tcpConfig([`127.0.0.1:${backend.port}`])));
    const socket = net.connect({ port: lb.port("web"), host: "127.0.0.1", allowHalfOpen: true });
    const got = await new Promise<string>((resolve) => {
      let data = "";
      socket.on("data", (c) => {
        data += c;
      });
      socket.on("end", () => resolve(data));
    });
    expect(got).toBe("early-bye");
    socket.end("still-talking");
    await waitFor(() => received === "still-talking", 3000, "late client data at the backend");
  });

  it("serves every client when one backend refuses, retrying another and counting the refusals", async () => {
    const refusing = await refusingPort();
    cleanups.push(async () => refusing.close());
    const dead = refusing.port;
    const alive = track(await nameServer("alive"));
    const lb = track(
      await startBalancer(
        tcpConfig([`127.0.0.1:${dead}`, `127.0.0.1:${alive.port}`], `balance = "roundrobin"`),
      ),
    );
    for (let i = 0; i < 20; i++) {
      const res = await request(lb.port("web"));
      expect(res.data).toBe("alive\n");
    }
    const backends = lb.server("web").stats().backends;
    const deadStats = backends.find((b) => b.port === String(dead))!.stats;
    expect(deadStats.refused_connections).toBeGreaterThanOrEqual(10);
    expect(deadStats.active_connections).toBe(0);
    const aliveStats = backends.find((b) => b.port === String(alive.port))!.stats;
    expect(aliveStats.total_connections).toBe(20);
  });

  it("closes the client after the bounded retries when every backend refuses", async () => {
    const held = await Promise.all([0, 1, 2, 3].map(() => refusingPort()));
    cleanups.push(async () => {
      for (const h of held) h.close();
    });
    const ports = held.map((h) => h.port);
    const lb = track(
      await startBalancer(
        tcpConfig(
          ports.map((p) => `127.0.0.1:${p}`),
          "backend_connection_retries = 1",
        ),
      ),
    );
    const res = await request(lb.port("web"));
    expect(res.data).toBe("");
    const refused = lb
      .server("web")
      .stats()
      .backends.reduce((n, b) => n + b.stats.refused_connections, 0);
    expect(refused).toBe(2); // first attempt + 1 retry
  });

  it("enforces server max_connections: the connection over the limit is closed at once", async () => {
    const holder = track(await tcpServer(() => {}, { allowHalfOpen: false }));
    const lb = track(
      await startBalancer(tcpConfig([`127.0.0.1:${holder.port}`], "max_connections = 2")),
    );
    const held = [
      net.connect(lb.port("web"), "127.0.0.1"),
      net.connect(lb.port("web"), "127.0.0.1"),
    ];
    for (const s of held) s.on("error", () => {});
    await waitFor(() => holder.connections.length === 2, 3000, "two held connections");
    const res = await request(lb.port("web"), undefined, { timeoutMs: 3000 });
    expect(res.error).not.toBe("test timeout");
    expect(holder.connections.length).toBe(2);
    for (const s of held) s.destroy();
    await waitFor(() => lb.server("web").stats().active_connections === 0, 3000, "release");
    // Below the limit again: served.
    const again = net.connect(lb.port("web"), "127.0.0.1");
    await waitFor(() => holder.connections.length === 3, 3000, "third connection after release");
    again.destroy();
  });

  it("enforces per-backend max_connections and sends the excess to another backend", async () => {
    const a = track(await tcpServer(() => {}, { allowHalfOpen: false }));
    const b = track(await tcpServer(() => {}, { allowHalfOpen: false }));
    const lb = track(
      await startBalancer(
        tcpConfig(
          [`127.0.0.1:${a.port} max_connections=1`, `127.0.0.1:${b.port}`],
          `balance = "roundrobin"`,
        ),
      ),
    );
    const sockets: net.Socket[] = [];
    for (let i = 0; i < 6; i++) {
      const s = net.connect(lb.port("web"), "127.0.0.1");
      s.on("error", () => {});
      sockets.push(s);
    }
    await waitFor(() => a.connections.length + b.connections.length === 6, 3000, "six connections");
    expect(a.connections.length).toBe(1);
    expect(b.connections.length).toBe(5);
    for (const s of sockets) s.destroy();
  });

  it("applies access rules: first match wins, then the default", async () => {
    const backend = track(await nameServer("ok"));
    const denied = track(
      await startBalancer(
        tcpConfig(
          [`127.0.0.1:${backend.port}`],
          `[servers.web.access]\ndefault = "allow"\nrules = ["deny 127.0.0.0/8", "allow 127.0.0.1"]`,
        ),
      ),
    );
    expect((await request(denied.port("web"))).data).toBe("");
    await denied.stop(0);
    const allowed = track(
      await startBalancer(
        tcpConfig(
          [`127.0.0.1:${backend.port}`],
          `[servers.web.access]\ndefault = "deny"\nrules = ["allow 127.0.0.1", "deny 127.0.0.0/8"]`,
        ),
      ),
    );
    expect((await request(allowed.port("web"))).data).toBe("ok\n");
  });

  it("applies IPv6 access rules", async () => {
    const backend = track(await nameServer("v6"));
    const lb = track(
      await startBalancer(`
[servers.v6]
bind = "[::1]:0"
[servers.v6.discovery]
kind = "static"
static_list = ["127.0.0.1:${backend.port}"]
[servers.v6.access]
default = "allow"
rules = ["deny ::1/128"]
`),
    );
    expect((await request(lb.port("v6"), undefined, { host: "::1" })).data).toBe("");
  });

  it("closes idle connections after client_idle_timeout but not a busy one-way transfer", async () => {
    const backend = track(
      await tcpServer((socket) => {
        socket.on("data", () => {});
      }),
    );
    const lb = track(
      await startBalancer(
        tcpConfig([`127.0.0.1:${backend.port}`], `client_idle_timeout = "300ms"`),
      ),
    );
    const started = Date.now();
    const idle = await request(lb.port("web"), undefined, { timeoutMs: 5000 });
    expect(idle.error).toBeUndefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);

    // A client that keeps sending for 1 s (well past the timeout) stays connected.
    const socket = net.connect(lb.port("web"), "127.0.0.1");
    let closedEarly = false;
    socket.on("close", () => {
      closedEarly = true;
    });
    for (let i = 0; i < 10; i++) {
      socket.write("tick");
      await sleep(100);
    }
    expect(closedEarly).toBe(false);
    socket.destroy();
  });
});

describe("tcp timeouts and retries", () => {
  it("retries another backend when one times out at connect, counting the refusal", async () => {
    const hang = await hangingPort();
    cleanups.push(async () => hang.close());
    const alive = track(await nameServer("alive"));
    const lb = track(
      await startBalancer(
        tcpConfig(
          [`127.0.0.1:${hang.port}`, `127.0.0.1:${alive.port}`],
          `balance = "roundrobin"\nbackend_connection_timeout = "200ms"`,
        ),
      ),
    );
    for (let i = 0; i < 4; i++) expect((await request(lb.port("web"))).data).toBe("alive\n");
    const hung = lb
      .server("web")
      .stats()
      .backends.find((b) => b.port === String(hang.port))!.stats;
    expect(hung.refused_connections).toBe(2); // roundrobin sent every second client there first
    expect(hung.active_connections).toBe(0);
  });

  it("closes both sides after backend_idle_timeout of backend silence", async () => {
    const silent = track(await tcpServer((s) => s.on("data", () => {})));
    const lb = track(
      await startBalancer(
        tcpConfig([`127.0.0.1:${silent.port}`], `backend_idle_timeout = "300ms"`),
      ),
    );
    const started = Date.now();
    const socket = net.connect(lb.port("web"), "127.0.0.1");
    const closed = new Promise<void>((r) => socket.on("close", () => r()));
    socket.on("error", () => {});
    socket.write("hello?");
    await closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await waitFor(() => lb.server("web").stats().active_connections === 0, 2000, "release");
  });
});

describe("tcp lifecycle edges", () => {
  it("reaches IPv6 backends written with brackets", async () => {
    const v6 = track(await tcpServer((s) => s.end("six\n"), { host: "::1" }));
    const lb = track(await startBalancer(tcpConfig([`[::1]:${v6.port}`])));
    expect((await request(lb.port("web"))).data).toBe("six\n");
    expect(lb.server("web").stats().backends[0].stats.refused_connections).toBe(0);
  });

  it("closing connections at the end of the grace period closes their backend sockets too", async () => {
    const holder = track(await tcpServer(() => {}, { allowHalfOpen: false }));
    const lb = await startBalancer(tcpConfig([`127.0.0.1:${holder.port}`]));
    const client = net.connect(lb.port("web"), "127.0.0.1");
    client.on("error", () => {});
    await waitFor(() => holder.connections.length === 1, 3000, "held connection");
    const backendClosed = new Promise<void>((r) => holder.connections[0].on("close", () => r()));
    const started = Date.now();
    await lb.stop(200);
    await backendClosed;
    expect(Date.now() - started).toBeLessThan(1000); // not the 1 s fallback wait
    expect(lb.server("web").stats().active_connections).toBe(0);
    expect(lb.server("web").table.backends[0].activeConnections).toBe(0);
    client.destroy();
  });

  it("closing a client whose backend connect still hangs abandons the connect and frees the slot", async () => {
    const hang = await hangingPort();
    cleanups.push(async () => hang.close());
    const lb = await startBalancer(tcpConfig([`127.0.0.1:${hang.port} max_connections=1`]));
    const client = net.connect(lb.port("web"), "127.0.0.1");
    client.on("error", () => {});
    const backend = lb.server("web").table.get(`127.0.0.1:${hang.port}`)!;
    await waitFor(() => backend.activeConnections === 1, 3000, "pending connect");
    await lb.stop(0); // closes every client, including this one mid-connect
    expect(backend.activeConnections).toBe(0);
    expect(backend.refusedConnections).toBe(0);
    expect(lb.server("web").stats().active_connections).toBe(0);
    client.destroy();
  });
});

describe("strategies over real sockets", () => {
  it("weight spreads connections by weight (3:1 within ±8 points over 400 connections)", async () => {
    const a = track(await nameServer("a"));
    const b = track(await nameServer("b"));
    const lb = track(
      await startBalancer(
        tcpConfig([`127.0.0.1:${a.port} weight=3`, `127.0.0.1:${b.port} weight=1`]),
      ),
    );
    const counts: Record<string, number> = { a: 0, b: 0 };
    for (let i = 0; i < 400; i++) counts[(await request(lb.port("web"))).data.trim()]++;
    expect(counts.a / 400).toBeGreaterThan(0.67);
    expect(counts.a / 400).toBeLessThan(0.83);
  });

  it("iphash sends the same client address to the same backend every time", async () => {
    const names = ["a", "b", "c"];
    const servers = await Promise.all(names.map((n) => nameServer(n)));
    for (const s of servers) track(s);
    const lb = track(
      await startBalancer(
        tcpConfig(
          servers.map((s) => `127.0.0.1:${s.port}`),
          `balance = "iphash"`,
        ),
      ),
    );
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add((await request(lb.port("web"))).data);
    expect(seen.size).toBe(1);
  });

  it("leastconn sends a new connection to the backend with fewer active ones", async () => {
    const holdA = track(await tcpServer((s) => s.write("a\n"), { allowHalfOpen: false }));
    const holdB = track(await tcpServer((s) => s.write("b\n"), { allowHalfOpen: false }));
    const lb = track(
      await startBalancer(
        tcpConfig([`127.0.0.1:${holdA.port}`, `127.0.0.1:${holdB.port}`], `balance = "leastconn"`),
      ),
    );
    const open: net.Socket[] = [];
    for (let i = 0; i < 4; i++) {
      const s = net.connect(lb.port("web"), "127.0.0.1");
      s.on("error", () => {});
      s.resume(); // read, so that the backend's FIN reaches 'end'
      open.push(s);
      await waitFor(
        () => holdA.connections.length + holdB.connections.length === i + 1,
        2000,
        "connection",
      );
    }
    expect([holdA.connections.length, holdB.connections.length]).toEqual([2, 2]);
    // Free two on A: the next two go to A.
    for (const c of holdA.connections.slice(0, 2)) c.destroy();
    await waitFor(
      () => lb.server("web").table.get(`127.0.0.1:${holdA.port}`)!.activeConnections === 0,
      2000,
      "A released",
    );
    for (let i = 0; i < 2; i++) {
      const s = net.connect(lb.port("web"), "127.0.0.1");
      s.on("error", () => {});
      s.resume(); // read, so that the backend's FIN reaches 'end'
      open.push(s);
    }
    await waitFor(() => holdA.connections.length === 4, 2000, "two more on A");
    expect(holdB.connections.length).toBe(2);
    for (const s of open) s.destroy();
  });
});

describe("proxy protocol", () => {
  /** Sends "payload" through a server with the given PROXY version; returns what the backend read. */
  async function throughProxyProtocol(
    version: string,
  ): Promise<{ seen: Buffer; clientPort: number; lbPort: number }> {
    let seen = Buffer.alloc(0);
    const backend = track(
      await tcpServer((socket) => {
        socket.on("data", (c: Buffer) => {
          seen = Buffer.concat([seen, c]);
        });
      }),
    );
    const lb = track(
      await startBalancer(
        tcpConfig(
          [`127.0.0.1:${backend.port}`],
          `[servers.web.proxy_protocol]\nversion = "${version}"`,
        ),
      ),
    );
    const client = net.connect(lb.port("web"), "127.0.0.1");
    await new Promise((r) => client.on("connect", r));
    client.write("payload");
    await waitFor(
      () => seen.toString("latin1").endsWith("payload"),
      3000,
      "payload at the backend",
    );
    const clientPort = client.localPort!;
    client.destroy();
    return { seen, clientPort, lbPort: lb.port("web") };
  }

  it("sends a v1 header with the client's and the listener's addresses", async () => {
    const { seen, clientPort, lbPort } = await throughProxyProtocol("1");
    expect(seen.toString()).toBe(
      `PROXY TCP4 127.0.0.1 127.0.0.1 ${clientPort} ${lbPort}\r\npayload`,
    );
  });

  it("sends a v2 binary header", async () => {
    const { seen, clientPort, lbPort } = await throughProxyProtocol("2");
    expect(seen.length).toBe(28 + 7);
    expect(seen.subarray(0, 12).toString("hex")).toBe("0d0a0d0a000d0a515549540a");
    expect(seen[12]).toBe(0x21); // v2, PROXY
    expect(seen[13]).toBe(0x11); // TCP over IPv4
    expect(seen.readUInt16BE(14)).toBe(12);
    expect([...seen.subarray(16, 20)]).toEqual([127, 0, 0, 1]);
    expect([...seen.subarray(20, 24)]).toEqual([127, 0, 0, 1]);
    expect(seen.readUInt16BE(24)).toBe(clientPort);
    expect(seen.readUInt16BE(26)).toBe(lbPort);
    expect(seen.subarray(28).toString()).toBe("payload");
  });
});
