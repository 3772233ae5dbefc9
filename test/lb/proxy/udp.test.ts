// UDP data path through a real in-process balancer, real datagram sockets on loopback.
import dgram from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { type RunningBalancer, startBalancer } from "../support/balancer";
import { sleep, type UdpEcho, udpEcho, waitFor } from "../support/net";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function echo(name: string, replies = 1): Promise<UdpEcho> {
  const e = await udpEcho(name, replies);
  cleanups.push(() => e.close());
  return e;
}
async function lb(toml: string): Promise<RunningBalancer> {
  const b = await startBalancer(toml);
  cleanups.push(() => b.stop(0));
  return b;
}

function udpConfig(backends: string[], udp: string, extra = ""): string {
  return `
[servers.dns]
bind = "127.0.0.1:0"
protocol = "udp"
balance = "roundrobin"
${extra}
[servers.dns.udp]
${udp}
[servers.dns.discovery]
kind = "static"
static_list = ${JSON.stringify(backends)}
`;
}

/** A client socket that collects replies with their source address. */
async function client(): Promise<{
  send(msg: string, port: number): void;
  replies: Array<{ msg: string; from: string }>;
  close(): void;
}> {
  const socket = dgram.createSocket("udp4");
  const replies: Array<{ msg: string; from: string }> = [];
  socket.on("message", (m, r) =>
    replies.push({ msg: m.toString(), from: `${r.address}:${r.port}` }),
  );
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", r));
  cleanups.push(async () => {
    socket.close();
  });
  return {
    send: (msg, port) => socket.send(msg, port, "127.0.0.1"),
    replies,
    close: () => socket.close(),
  };
}

describe("udp", () => {
  it("relays a round trip, the reply coming from the bind address", async () => {
    const backend = await echo("a");
    const b = await lb(udpConfig([`127.0.0.1:${backend.port}`], "", `client_idle_timeout = "2s"`));
    const c = await client();
    c.send("hello", b.port("dns"));
    await waitFor(() => c.replies.length === 1, 3000, "reply");
    expect(c.replies[0]).toEqual({ msg: "a:hello", from: `127.0.0.1:${b.port("dns")}` });
    expect(b.server("dns").stats().active_connections).toBe(1);
  });

  it("keeps one session per client: its packets stick to one backend", async () => {
    const a = await echo("a");
    const bb = await echo("b");
    const b = await lb(
      udpConfig([`127.0.0.1:${a.port}`, `127.0.0.1:${bb.port}`], "", `client_idle_timeout = "2s"`),
    );
    const c = await client();
    for (let i = 0; i < 5; i++) c.send(`m${i}`, b.port("dns"));
    await waitFor(() => c.replies.length === 5, 3000, "5 replies");
    expect(new Set(c.replies.map((r) => r.msg.split(":")[0])).size).toBe(1);
  });

  it("max_responses = 1 closes the session after one reply; the next packet elects again", async () => {
    const a = await echo("a", 3);
    const bb = await echo("b", 3);
    const b = await lb(
      udpConfig([`127.0.0.1:${a.port}`, `127.0.0.1:${bb.port}`], "max_responses = 1"),
    );
    const c = await client();
    c.send("one", b.port("dns"));
    await waitFor(() => c.replies.length >= 1, 3000, "first reply");
    await sleep(200);
    expect(c.replies.length).toBe(1); // the backend sent 3, only 1 is relayed
    await waitFor(() => b.server("dns").stats().active_connections === 0, 2000, "session end");
    c.send("two", b.port("dns"));
    await waitFor(() => c.replies.length >= 2, 3000, "second reply");
    await sleep(200);
    expect(c.replies.length).toBe(2);
    // roundrobin over a fresh election: the second session went to the other backend
    expect(c.replies[0].msg.split(":")[0]).not.toBe(c.replies[1].msg.split(":")[0]);
  });

  it("max_requests = 2 opens a new session every two packets, still relaying replies", async () => {
    const a = await echo("a");
    const bb = await echo("b");
    const b = await lb(
      udpConfig(
        [`127.0.0.1:${a.port}`, `127.0.0.1:${bb.port}`],
        "max_requests = 2",
        `backend_idle_timeout = "1s"`,
      ),
    );
    const c = await client();
    for (let i = 0; i < 4; i++) {
      c.send(`p${i}`, b.port("dns"));
      await waitFor(() => c.replies.length === i + 1, 3000, `reply ${i}`);
    }
    // Which backend roundrobin takes first depends on the ports' sort order; the pairing does not.
    const [s0, s1, s2, s3] = c.replies.map((r) => r.msg.split(":")[0]);
    expect(s0).toBe(s1);
    expect(s2).toBe(s3);
    expect(s0).not.toBe(s2);
    expect(c.replies.map((r) => r.msg.split(":")[1])).toEqual(["p0", "p1", "p2", "p3"]);
    expect(a.received.length + bb.received.length).toBe(4);
  });

  it("client_idle_timeout ends a silent session", async () => {
    const a = await echo("a");
    const b = await lb(udpConfig([`127.0.0.1:${a.port}`], "", `client_idle_timeout = "300ms"`));
    const c = await client();
    c.send("x", b.port("dns"));
    await waitFor(() => c.replies.length === 1, 3000, "reply");
    expect(b.server("dns").stats().active_connections).toBe(1);
    await waitFor(
      () => b.server("dns").stats().active_connections === 0,
      2000,
      "idle session to close",
    );
  });

  it("server max_connections limits concurrent sessions", async () => {
    const a = await echo("a");
    const b = await lb(
      udpConfig([`127.0.0.1:${a.port}`], "", `client_idle_timeout = "5s"\nmax_connections = 1`),
    );
    const c1 = await client();
    const c2 = await client();
    c1.send("first", b.port("dns"));
    await waitFor(() => c1.replies.length === 1, 3000, "first client's reply");
    c2.send("second", b.port("dns"));
    await sleep(300);
    expect(c2.replies.length).toBe(0);
    expect(a.received.map((r) => r.msg)).toEqual(["first"]);
  });

  it("drops packets denied by access rules", async () => {
    const a = await echo("a");
    const b = await lb(
      udpConfig(
        [`127.0.0.1:${a.port}`],
        "",
        `client_idle_timeout = "1s"\n[servers.dns.access]\ndefault = "deny"`,
      ),
    );
    const c = await client();
    c.send("x", b.port("dns"));
    await sleep(300);
    expect(c.replies.length).toBe(0);
    expect(a.received.length).toBe(0);
  });

  it("drains on stop: replies of live sessions still arrive, new clients are dropped, then the socket closes", async () => {
    // A backend that answers 400 ms late, i.e. after the stop began.
    const late = dgram.createSocket("udp4");
    late.on("message", (msg, r) =>
      setTimeout(() => late.send(`late:${msg}`, r.port, r.address), 400),
    );
    await new Promise<void>((r) => late.bind(0, "127.0.0.1", r));
    cleanups.push(() => new Promise((r) => late.close(() => r())));
    const b = await lb(udpConfig([`127.0.0.1:${late.address().port}`], "max_responses = 1"));
    const port = b.port("dns");
    const c1 = await client();
    c1.send("first", port);
    await waitFor(() => b.server("dns").stats().active_connections === 1, 2000, "session");
    const stopped = b.server("dns").stop(3000);
    const c2 = await client();
    c2.send("newcomer", port);
    await waitFor(() => c1.replies.length === 1, 3000, "the late reply during the drain");
    expect(c1.replies[0]).toEqual({ msg: "late:first", from: `127.0.0.1:${port}` });
    await stopped;
    await sleep(100);
    expect(c2.replies).toEqual([]);
    // The listener is closed now: binding its port succeeds.
    const rebind = dgram.createSocket("udp4");
    await new Promise<void>((r, j) => rebind.once("error", j).bind(port, "127.0.0.1", () => r()));
    rebind.close();
  });
});
