import { createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { HealthcheckConfig } from "../../../lb/src/config/types";
import type { HealthCheck } from "../../../lb/src/healthcheck/check";
import { ping } from "../../../lb/src/healthcheck/ping";
import { HealthcheckRunner } from "../../../lb/src/healthcheck/runner";
import type { CheckResult } from "../../../lb/src/healthcheck/state";

function cfg(over: Partial<HealthcheckConfig> = {}): HealthcheckConfig {
  return {
    kind: "ping",
    interval: "20ms",
    timeout: "100ms",
    fails: 1,
    passes: 1,
    initial_status: "healthy",
    ...over,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await sleep(5);
  }
}

/** A scripted check: per key, results are taken from `script` in order (last one repeats). */
function scripted(script: Record<string, CheckResult[]>, delayMs = 0) {
  const calls: Array<{ key: string; at: number }> = [];
  const signals: AbortSignal[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const check: HealthCheck = async (host, port, _timeout, signal) => {
    const key = `${host}:${port}`;
    calls.push({ key, at: Date.now() });
    if (signal) signals.push(signal);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const list = script[key] ?? ["healthy"];
    const n = calls.filter((c) => c.key === key).length - 1;
    if (delayMs) await sleep(delayMs);
    inFlight--;
    return list[Math.min(n, list.length - 1)];
  };
  return {
    check,
    calls,
    signals,
    get maxInFlight() {
      return maxInFlight;
    },
    count: (key: string) => calls.filter((c) => c.key === key).length,
  };
}

const runners: HealthcheckRunner[] = [];
afterEach(() => {
  while (runners.length) runners.pop()!.stop();
});

function runner(
  c: HealthcheckConfig,
  check?: HealthCheck,
  log?: { warn: (o: object, m: string) => void; debug: (o: object, m: string) => void },
) {
  const transitions: Array<[string, boolean]> = [];
  const r = new HealthcheckRunner(c, (k, l) => transitions.push([k, l]), log, { check });
  runners.push(r);
  return { r, transitions };
}

const A = { key: "10.0.0.1:80", host: "10.0.0.1", port: 80 };
const B = { key: "10.0.0.2:80", host: "10.0.0.2", port: 80 };

describe("HealthcheckRunner", () => {
  it('kind "none" runs no checks and reports nothing', async () => {
    const s = scripted({});
    const { r, transitions } = runner(cfg({ kind: "none", interval: "0" }), s.check);
    r.sync([A, B]);
    await sleep(50);
    expect(s.calls.length).toBe(0);
    expect(r.keys()).toEqual([]);
    expect(transitions).toEqual([]);
  });

  it("an interval longer than a Node.js timer does not turn into a busy loop", async () => {
    const s = scripted({});
    const { r } = runner(cfg({ interval: "1000h", timeout: "1000h" }), s.check);
    r.sync([A]);
    await sleep(100);
    expect(s.count(A.key)).toBe(1);
  });

  it("checks a new backend at once, then every interval", async () => {
    const s = scripted({});
    const { r } = runner(cfg({ interval: "40ms" }), s.check);
    const t0 = Date.now();
    r.sync([A]);
    expect(s.count(A.key)).toBe(1); // started synchronously
    await until(() => s.count(A.key) >= 4);
    const gaps = s.calls.slice(1).map((c, i) => c.at - s.calls[i].at);
    for (const g of gaps) expect(g).toBeGreaterThanOrEqual(35);
    expect(s.calls[0].at - t0).toBeLessThan(20);
  });

  it("reports only transitions, through the consecutive thresholds", async () => {
    const s = scripted({
      [A.key]: [
        "unhealthy",
        "healthy",
        "unhealthy",
        "unhealthy",
        "unhealthy",
        "healthy",
        "healthy",
      ],
    });
    const { r, transitions } = runner(cfg({ interval: "5ms", fails: 3, passes: 2 }), s.check);
    r.sync([A]);
    await until(() => s.count(A.key) >= 10);
    expect(transitions).toEqual([
      [A.key, false], // after the 3rd consecutive failure (check 5)
      [A.key, true], // after 2 passes (check 7)
    ]);
  });

  it("starts from initial_status, or from the entry's live flag", async () => {
    const s = scripted({ [A.key]: ["healthy"], [B.key]: ["healthy"] });
    const { r, transitions } = runner(
      cfg({ initial_status: "unhealthy", interval: "5ms" }),
      s.check,
    );
    r.sync([A, { ...B, live: true }]);
    await until(() => s.count(A.key) >= 3 && s.count(B.key) >= 3);
    expect(transitions).toEqual([[A.key, true]]);
  });

  it("never overlaps checks of one backend, even when a check outlasts the interval", async () => {
    const s = scripted({}, 30);
    const { r } = runner(cfg({ interval: "5ms" }), s.check);
    r.sync([A]);
    await until(() => s.count(A.key) >= 5);
    expect(s.maxInFlight).toBe(1);
  });

  it("sync stops removed backends (in-flight check aborted, result ignored) and keeps others", async () => {
    const s = scripted({ [A.key]: ["unhealthy"], [B.key]: ["healthy"] }, 20);
    const { r, transitions } = runner(cfg({ interval: "10ms" }), s.check);
    r.sync([A, B]);
    expect(r.keys().sort()).toEqual([A.key, B.key]);
    r.sync([B]); // A's first check is still in flight
    expect(r.keys()).toEqual([B.key]);
    expect(s.signals[0].aborted).toBe(true);
    const before = s.count(A.key);
    await until(() => s.count(B.key) >= 4);
    expect(s.count(A.key)).toBe(before);
    expect(transitions).toEqual([]); // A's unhealthy result arrived after removal
    r.sync([B, A]); // re-added: checked again from the initial status
    await until(() => transitions.length === 1);
    expect(transitions).toEqual([[A.key, false]]);
  });

  it("nothing runs or reports after stop()", async () => {
    const s = scripted({ [A.key]: ["unhealthy"] }, 20);
    const { r, transitions } = runner(cfg({ interval: "5ms" }), s.check);
    r.sync([A]);
    r.stop();
    const n = s.calls.length;
    await sleep(80);
    expect(s.calls.length).toBe(n);
    expect(transitions).toEqual([]);
    r.sync([A, B]);
    await sleep(20);
    expect(s.calls.length).toBe(n);
  });

  it("logs unknown results as warnings and counts them as failures", async () => {
    const s = scripted({ [A.key]: ["unknown"] });
    const warnings: string[] = [];
    const log = { warn: (_o: object, m: string) => warnings.push(m), debug: () => {} };
    const { r, transitions } = runner(cfg({ interval: "5ms", fails: 2 }), s.check, log);
    r.sync([A]);
    await until(() => transitions.length === 1);
    expect(transitions).toEqual([[A.key, false]]);
    expect(s.count(A.key)).toBeGreaterThanOrEqual(2);
    expect(warnings.some((w) => /neither expected output/.test(w))).toBe(true);
  });

  it('timeout "0" uses the interval as the per-check timeout', async () => {
    const timeouts: number[] = [];
    const check: HealthCheck = async (_h, _p, t) => {
      timeouts.push(t);
      return "healthy";
    };
    const { r } = runner(cfg({ interval: "2s", timeout: "0" }), check);
    r.sync([A]);
    expect(timeouts).toEqual([2000]);
  });
});

describe("HealthcheckRunner start-up grace", () => {
  it("re-checks a backend that has not passed yet every 200 ms during its first interval", async () => {
    // Fails twice (a container whose process is not listening yet), then passes.
    const s = scripted({ [A.key]: ["unhealthy", "unhealthy", "healthy"] });
    const { r, transitions } = runner(cfg({ interval: "2s" }), s.check);
    const t0 = Date.now();
    r.sync([A]);
    await until(() => transitions.length === 2, 1500);
    expect(transitions).toEqual([
      [A.key, false],
      [A.key, true],
    ]);
    expect(Date.now() - t0).toBeLessThan(1000); // not the 2 s interval
    // Once it has passed, the normal interval applies again.
    const checks = s.count(A.key);
    await sleep(500);
    expect(s.count(A.key)).toBe(checks);
  });

  it("does not speed up a backend that has already passed", async () => {
    const s = scripted({ [A.key]: ["healthy", "unhealthy", "unhealthy"] });
    const { r } = runner(cfg({ interval: "1s" }), s.check);
    r.sync([A]);
    await sleep(600);
    expect(s.count(A.key)).toBe(1);
  });
});

describe("HealthcheckRunner with real ping checks", () => {
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  afterEach(async () => {
    for (const s of sockets) s.destroy();
    if (server?.listening) await new Promise((r) => server!.close(r));
  });

  async function listen(port = 0): Promise<number> {
    server = createServer((s) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.resume();
    });
    await new Promise<void>((resolve) => server!.listen(port, "127.0.0.1", resolve));
    return (server.address() as { port: number }).port;
  }

  it("a backend whose port closes goes down after `fails` checks and comes back after `passes`", async () => {
    const port = await listen();
    let connections = 0;
    server!.on("connection", () => connections++);
    // The real ping check, wrapped to count consecutive results of the same kind.
    let streak = 0;
    let last: CheckResult | undefined;
    const counted: HealthCheck = async (...args) => {
      const res = await ping(...args);
      streak = res === last ? streak + 1 : 1;
      last = res;
      return res;
    };
    const transitions: Array<[boolean, number, number]> = [];
    const t = { key: `127.0.0.1:${port}`, host: "127.0.0.1", port };
    const r = new HealthcheckRunner(
      cfg({ interval: "30ms", timeout: "200ms", fails: 3, passes: 2 }),
      (_k, live) => transitions.push([live, Date.now(), streak]),
      undefined,
      { check: counted },
    );
    runners.push(r);
    r.sync([t]);
    await until(() => connections >= 2);
    expect(transitions).toEqual([]);

    for (const s of sockets) s.destroy();
    await new Promise((res) => server!.close(res));
    const closedAt = Date.now();
    await until(() => transitions.length === 1);
    expect(transitions[0][0]).toBe(false);
    expect(transitions[0][2]).toBe(3); // on the 3rd consecutive failure
    // Three failed checks, 30 ms apart: not before ~2 intervals, not much after 3-4.
    const downAfter = transitions[0][1] - closedAt;
    expect(downAfter).toBeGreaterThanOrEqual(50);
    expect(downAfter).toBeLessThan(400);

    await listen(port);
    await until(() => transitions.length === 2);
    expect(transitions[1][0]).toBe(true);
    expect(transitions[1][2]).toBe(2); // on the 2nd consecutive pass
  });
});
