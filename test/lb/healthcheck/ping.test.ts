import { type AddressInfo, createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { ping } from "../../../lb/src/healthcheck/ping";
import { refusingPort } from "../support/net";
import { hangingPort, hasPython, tcpServer, timed } from "./helpers";

describe("ping healthcheck", () => {
  it("is healthy against a listening port and closes its connection", async () => {
    const srv = await tcpServer();
    let closed = 0;
    srv.server.on("connection", (s) => s.on("close", () => closed++));
    try {
      expect(await ping("127.0.0.1", srv.port, 1000)).toBe("healthy");
      for (let i = 0; i < 50 && closed === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(closed).toBe(1);
    } finally {
      await srv.close();
    }
  });

  it("is unhealthy against a closed port, quickly", async () => {
    const refusing = await refusingPort();
    const { value, ms } = await timed(ping("127.0.0.1", refusing.port, 2000));
    refusing.close();
    expect(value).toBe("unhealthy");
    expect(ms).toBeLessThan(1000);
  });

  it.skipIf(!hasPython)("is unhealthy within the timeout when the connect hangs", async () => {
    const hang = await hangingPort();
    try {
      const { value, ms } = await timed(ping("127.0.0.1", hang.port, 200));
      expect(value).toBe("unhealthy");
      expect(ms).toBeGreaterThanOrEqual(190);
      expect(ms).toBeLessThan(500);
    } finally {
      hang.close();
    }
  });

  it.skipIf(!hasPython)("settles at once when aborted", async () => {
    const hang = await hangingPort();
    try {
      const ac = new AbortController();
      const p = timed(ping("127.0.0.1", hang.port, 5000, ac.signal));
      setTimeout(() => ac.abort(), 20);
      const { value, ms } = await p;
      expect(value).toBe("unhealthy");
      expect(ms).toBeLessThan(500);
    } finally {
      hang.close();
    }
  });
});

describe("ping healthcheck, IPv6 backend written with brackets", () => {
  it("dials [::1] as ::1", async () => {
    const server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, "::1", r));
    const port = (server.address() as AddressInfo).port;
    try {
      expect(await ping("[::1]", port, 1000)).toBe("healthy");
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
