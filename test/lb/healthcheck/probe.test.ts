import { createSocket } from "node:dgram";
import { type AddressInfo, createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { HealthcheckConfig } from "../../../lb/src/config/types";
import { createProbeCheck, probeSpec } from "../../../lb/src/healthcheck/probe";
import { refusingPort } from "../support/net";
import { hangingPort, hasPython, tcpServer, timed, udpServer } from "./helpers";

function cfg(over: Partial<HealthcheckConfig>): HealthcheckConfig {
  return {
    kind: "probe",
    interval: "1s",
    timeout: "1s",
    fails: 1,
    passes: 1,
    initial_status: "healthy",
    probe_protocol: "tcp",
    probe_strategy: "starts_with",
    ...over,
  };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A TCP server that answers a request starting with PING\x00\n with `reply`. */
async function pingPongServer(reply: Buffer, received?: Buffer[]) {
  const srv = await tcpServer((s) => {
    let buf = Buffer.alloc(0);
    s.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 6) {
        received?.push(buf);
        if (buf.subarray(0, 6).equals(Buffer.from("PING\x00\n", "latin1"))) s.write(reply);
      }
    });
  });
  cleanups.push(srv.close);
  return srv;
}

describe("probe spec", () => {
  it("decodes escapes and derives N", () => {
    const spec = probeSpec(cfg({ probe_send: "A\\x00\\n", probe_recv: "\\xffOK" }));
    expect([...spec.send]).toEqual([0x41, 0x00, 0x0a]);
    expect(spec.recvLen).toBe(3);
    expect(spec.matches(Buffer.from([0xff, 0x4f, 0x4b]))).toBe(true);
  });

  it("rejects bad configs with a clear error", () => {
    expect(() => probeSpec(cfg({ probe_send: "\\q", probe_recv: "x" }))).toThrow(/escape/);
    expect(() =>
      probeSpec(cfg({ probe_strategy: "regexp", probe_send: "x", probe_recv: "x" })),
    ).toThrow(/probe_recv_len/);
  });
});

describe("tcp probe", () => {
  it("starts_with: healthy when the N bytes equal the decoded probe_recv", async () => {
    const received: Buffer[] = [];
    const srv = await pingPongServer(
      Buffer.from([0x01, 0x02, 0x50, 0x4f, 0x4e, 0x47, 0x99, 0x98]),
      received,
    );
    const check = createProbeCheck(
      cfg({ probe_send: "PING\\x00\\n", probe_recv: "\\x01\\x02PONG" }),
    );
    expect(await check("127.0.0.1", srv.port, 1000)).toBe("healthy");
    expect(received[0].equals(Buffer.from("PING\x00\n", "latin1"))).toBe(true);
  });

  it("starts_with: a wrong reply is unhealthy", async () => {
    const srv = await pingPongServer(Buffer.from("\x01\x02PANG", "latin1"));
    const check = createProbeCheck(
      cfg({ probe_send: "PING\\x00\\n", probe_recv: "\\x01\\x02PONG" }),
    );
    expect(await check("127.0.0.1", srv.port, 1000)).toBe("unhealthy");
  });

  it("starts_with with probe_recv_len reads only that many bytes", async () => {
    const srv = await pingPongServer(Buffer.from("PONG and more"));
    const check = createProbeCheck(
      cfg({ probe_send: "PING\\000\\n", probe_recv: "PO", probe_recv_len: 2 }),
    );
    expect(await check("127.0.0.1", srv.port, 1000)).toBe("healthy");
  });

  it("regexp: matches the N bytes, unanchored", async () => {
    const srv = await pingPongServer(Buffer.from("+OK redis 7.2 ready\r\n"));
    const ok = createProbeCheck(
      cfg({
        probe_strategy: "regexp",
        probe_send: "PING\\x00\\n",
        probe_recv: "re[d]is \\d",
        probe_recv_len: 12,
      }),
    );
    expect(await ok("127.0.0.1", srv.port, 1000)).toBe("healthy");
    // "ready" lies beyond the first 12 bytes: not seen.
    const beyond = createProbeCheck(
      cfg({
        probe_strategy: "regexp",
        probe_send: "PING\\x00\\n",
        probe_recv: "ready",
        probe_recv_len: 12,
      }),
    );
    expect(await beyond("127.0.0.1", srv.port, 1000)).toBe("unhealthy");
  });

  it("a reply split over several writes is reassembled", async () => {
    const srv = await tcpServer((s) => {
      s.once("data", () => {
        s.write("PO");
        setTimeout(() => s.write("NG"), 30);
      });
    });
    cleanups.push(srv.close);
    const check = createProbeCheck(cfg({ probe_send: "x", probe_recv: "PONG" }));
    expect(await check("127.0.0.1", srv.port, 1000)).toBe("healthy");
  });

  it("a silent server is unhealthy within the timeout", async () => {
    const srv = await tcpServer();
    cleanups.push(srv.close);
    const check = createProbeCheck(cfg({ probe_send: "PING", probe_recv: "PONG" }));
    const { value, ms } = await timed(check("127.0.0.1", srv.port, 200));
    expect(value).toBe("unhealthy");
    expect(ms).toBeGreaterThanOrEqual(190);
    expect(ms).toBeLessThan(500);
    // The probe closed its connection.
    for (let i = 0; i < 50 && srv.live.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(srv.live.size).toBe(0);
  });

  it("a short reply followed by close is unhealthy at once", async () => {
    const srv = await tcpServer((s) => s.once("data", () => s.end("PO")));
    cleanups.push(srv.close);
    const check = createProbeCheck(cfg({ probe_send: "PING", probe_recv: "PONG" }));
    const { value, ms } = await timed(check("127.0.0.1", srv.port, 2000));
    expect(value).toBe("unhealthy");
    expect(ms).toBeLessThan(1000);
  });

  it.skipIf(!hasPython)("a hanging connect is unhealthy within the timeout", async () => {
    const hang = await hangingPort();
    try {
      const check = createProbeCheck(cfg({ probe_send: "PING", probe_recv: "PONG" }));
      const { value, ms } = await timed(check("127.0.0.1", hang.port, 200));
      expect(value).toBe("unhealthy");
      expect(ms).toBeLessThan(500);
    } finally {
      hang.close();
    }
  });

  it("a closed port is unhealthy", async () => {
    const check = createProbeCheck(cfg({ probe_send: "PING", probe_recv: "PONG" }));
    const refusing = await refusingPort();
    expect(await check("127.0.0.1", refusing.port, 1000)).toBe("unhealthy");
    refusing.close();
  });
});

describe("udp probe", () => {
  it("is healthy against a real echo server (escapes decoded)", async () => {
    const srv = await udpServer((msg, reply) => reply(msg));
    cleanups.push(srv.close);
    const check = createProbeCheck(
      cfg({ probe_protocol: "udp", probe_send: "\\xde\\xadHELLO\\n", probe_recv: "\\xde\\xadHE" }),
    );
    expect(await check("127.0.0.1", srv.port, 1000)).toBe("healthy");
  });

  it("collects several datagrams totalling N bytes", async () => {
    const srv = await udpServer((_msg, reply) => {
      reply(Buffer.from("PO"));
      reply(Buffer.from("NG"));
    });
    cleanups.push(srv.close);
    const check = createProbeCheck(
      cfg({ probe_protocol: "udp", probe_send: "?", probe_recv: "PONG" }),
    );
    expect(await check("127.0.0.1", srv.port, 1000)).toBe("healthy");
  });

  it("a wrong reply is unhealthy, a silent server is unhealthy within the timeout", async () => {
    const wrong = await udpServer((_msg, reply) => reply(Buffer.from("NOPE")));
    cleanups.push(wrong.close);
    const silent = await udpServer(() => {});
    cleanups.push(silent.close);
    const check = createProbeCheck(
      cfg({ probe_protocol: "udp", probe_send: "?", probe_recv: "PONG" }),
    );
    expect(await check("127.0.0.1", wrong.port, 1000)).toBe("unhealthy");
    const { value, ms } = await timed(check("127.0.0.1", silent.port, 200));
    expect(value).toBe("unhealthy");
    expect(ms).toBeLessThan(500);
  });

  it("a closed UDP port is unhealthy (ICMP refusal or timeout)", async () => {
    const srv = await udpServer(() => {});
    const port = srv.port;
    await srv.close();
    const check = createProbeCheck(
      cfg({ probe_protocol: "udp", probe_send: "?", probe_recv: "PONG" }),
    );
    const { value, ms } = await timed(check("127.0.0.1", port, 300));
    expect(value).toBe("unhealthy");
    expect(ms).toBeLessThan(600);
  });
});

describe("probes of an IPv6 backend written with brackets", () => {
  it("tcp and udp probes dial [::1] as ::1", async () => {
    const tcp = createServer((s) => s.on("data", () => s.end("PONG")));
    await new Promise<void>((r) => tcp.listen(0, "::1", r));
    cleanups.push(() => new Promise<void>((r) => tcp.close(() => r())));
    const udp = createSocket("udp6");
    udp.on("message", (_m, r) => udp.send("PONG", r.port, r.address));
    await new Promise<void>((r) => udp.bind(0, "::1", r));
    cleanups.push(() => new Promise<void>((r) => udp.close(() => r())));

    const tcpCheck = createProbeCheck(cfg({ probe_send: "PING", probe_recv: "PONG" }));
    const udpCheck = createProbeCheck(
      cfg({ probe_protocol: "udp", probe_send: "PING", probe_recv: "PONG" }),
    );
    expect(await tcpCheck("[::1]", (tcp.address() as AddressInfo).port, 1000)).toBe("healthy");
    expect(await udpCheck("[::1]", udp.address().port, 1000)).toBe("healthy");
  });
});
