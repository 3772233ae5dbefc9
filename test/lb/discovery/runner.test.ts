// The discovery loop itself, driven by in-process fetchers and watchers (real timers): failpolicy,
// logging once per change of state, coalesced refreshes, watcher publishes vs stale fetches,
// reconnect with backoff and faster polling while the watcher is down, per-kind defaults.
import { describe, expect, it } from "vitest";
import type { BackendSpec } from "../../../lb/src/config/types";
import {
  createDiscovery,
  DISCOVERY_DEFAULTS,
  discoveryTiming,
  supportedDiscoveryKinds,
} from "../../../lb/src/discovery";
import { DiscoveryRunner, type DiscoveryRunnerOptions } from "../../../lb/src/discovery/runner";
import { discoveryConfig, recordingLogger, sleep, waitFor } from "./support/helpers";

const b = (port: number): BackendSpec => ({
  host: "10.0.0.1",
  port,
  weight: 1,
  priority: 1,
  max_connections: 0,
  sni: "",
});

function runner(opts: Partial<DiscoveryRunnerOptions> & Pick<DiscoveryRunnerOptions, "fetch">) {
  const { log, records } = recordingLogger();
  const updates: BackendSpec[][] = [];
  const r = new DiscoveryRunner({
    intervalMs: 50,
    timeoutMs: 0,
    failpolicy: "keeplast",
    retryMs: 20,
    onUpdate: (x) => updates.push(x),
    log,
    ...opts,
  });
  return { r, updates, records };
}

describe("discovery runner", () => {
  it("keeplast publishes nothing on failure; setempty publishes an empty list", async () => {
    for (const failpolicy of ["keeplast", "setempty"] as const) {
      let calls = 0;
      const { r, updates } = runner({
        failpolicy,
        fetch: async () => {
          calls++;
          if (calls === 1) return [b(1)];
          throw new Error("source down");
        },
      });
      r.start();
      await waitFor(() => calls >= 4, "four fetches");
      r.stop();
      expect(updates[0]).toEqual([b(1)]);
      if (failpolicy === "keeplast") expect(updates).toHaveLength(1);
      else {
        expect(updates.length, "setempty published the empty list").toBeGreaterThan(1);
        expect(updates.slice(1).every((u) => u.length === 0)).toBe(true);
      }
    }
  });

  it("logs a failing source once per change of state, not once per attempt", async () => {
    let calls = 0;
    const { r, records } = runner({
      fetch: async () => {
        calls++;
        if (calls >= 2 && calls <= 6) throw new Error(`boom ${calls}`);
        return [b(calls)];
      },
    });
    r.start();
    await waitFor(() => calls >= 8, "eight fetches");
    r.stop();
    const failed = records.filter((x) => x.msg === "discovery failed");
    const recovered = records.filter((x) => x.msg === "discovery recovered");
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ err: "boom 2", failpolicy: "keeplast", level: 40 });
    expect(recovered).toHaveLength(1);
  });

  it("names a timeout as such and aborts the fetch", async () => {
    let sawAbort = false;
    const { r, records } = runner({
      timeoutMs: 30,
      fetch: (signal) =>
        new Promise((_, reject) =>
          signal.addEventListener("abort", () => {
            sawAbort = true;
            reject(signal.reason);
          }),
        ),
    });
    r.start();
    await waitFor(() => records.some((x) => x.msg === "discovery failed"), "a failure");
    r.stop();
    expect(sawAbort).toBe(true);
    expect(String(records.find((x) => x.msg === "discovery failed")?.err)).toBe(
      "timed out after 30 ms",
    );
  });

  it("interval 0 fetches until the first success, then stops", async () => {
    let calls = 0;
    const { r, updates } = runner({
      intervalMs: 0,
      fetch: async () => {
        calls++;
        if (calls < 3) throw new Error("not yet");
        return [b(1)];
      },
    });
    r.start();
    await waitFor(() => updates.length === 1, "first success");
    await sleep(150);
    r.stop();
    expect(calls).toBe(3);
  });

  it("coalesces refreshes: events during a fetch cause exactly one more fetch", async () => {
    let calls = 0;
    let release: (() => void) | undefined;
    const { r } = runner({
      intervalMs: 60_000,
      fetch: async () => {
        calls++;
        if (calls === 2) await new Promise<void>((res) => (release = res));
        return [b(calls)];
      },
    });
    r.start();
    await waitFor(() => calls === 1, "initial fetch");
    await sleep(10);
    r.refresh();
    await waitFor(() => release !== undefined, "second fetch in flight");
    for (let i = 0; i < 10; i++) r.refresh();
    release?.();
    await waitFor(() => calls === 3, "one coalesced fetch");
    await sleep(100);
    r.stop();
    expect(calls).toBe(3);
  });

  it("a watcher's publish wins over a fetch that started before it", async () => {
    let release: (() => void) | undefined;
    let publish: ((x: BackendSpec[]) => void) | undefined;
    const { r, updates } = runner({
      intervalMs: 60_000,
      fetch: {
        fetch: async () => {
          await new Promise<void>((res) => (release = res));
          return [b(1)];
        },
        watch: async (ctx) => {
          publish = ctx.publish;
          ctx.connected(false);
          await new Promise((res) => ctx.signal.addEventListener("abort", res));
        },
      },
    });
    r.start();
    await waitFor(() => release !== undefined && publish !== undefined, "fetch and watch");
    publish?.([b(2)]);
    release?.();
    await sleep(30);
    r.stop();
    expect(updates).toEqual([[b(2)]]);
  });

  it("reconnects a failing watcher with backoff, polls faster meanwhile, logs once", async () => {
    let connects = 0;
    let fetches = 0;
    const { r, records } = runner({
      intervalMs: 60_000,
      watchDownPollMs: 40,
      watchBackoffMs: { min: 20, max: 80 },
      fetch: {
        fetch: async () => {
          fetches++;
          return [b(1)];
        },
        watch: async () => {
          connects++;
          throw new Error("events unavailable");
        },
      },
    });
    r.start();
    await sleep(500);
    r.stop();
    const n = connects;
    // backoff 20, 40, 80, 80, … ms → about 7 attempts in 500 ms, certainly not 25
    expect(n).toBeGreaterThanOrEqual(3);
    expect(n).toBeLessThanOrEqual(12);
    // while the watcher is down the runner polls every 40 ms instead of every 60 s
    expect(fetches).toBeGreaterThanOrEqual(5);
    const lost = records.filter((x) => x.msg.startsWith("discovery watch lost"));
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatchObject({ err: "events unavailable", poll_ms: 40 });
    await sleep(100);
    expect(connects).toBe(n);
  });

  it("a connected watcher triggers a resync and switches back to the long interval", async () => {
    let fetches = 0;
    let refresh: (() => void) | undefined;
    const { r } = runner({
      intervalMs: 60_000,
      watchDownPollMs: 20,
      fetch: {
        fetch: async () => {
          fetches++;
          return [b(fetches)];
        },
        watch: async (ctx) => {
          ctx.connected();
          refresh = ctx.refresh;
          await new Promise((res) => ctx.signal.addEventListener("abort", res));
        },
      },
    });
    r.start();
    await waitFor(() => refresh !== undefined && fetches >= 2, "initial fetch and resync");
    await sleep(200);
    const settled = fetches;
    expect(settled).toBeLessThanOrEqual(3);
    refresh?.();
    await waitFor(() => fetches === settled + 1, "event-triggered fetch");
    r.stop();
  });
});

describe("per-kind defaults", () => {
  it("every configured kind is available", () => {
    expect(supportedDiscoveryKinds().sort()).toEqual(
      ["consul", "docker", "exec", "json", "plaintext", "srv", "static"].sort(),
    );
  });

  it('applies the documented interval and timeout for "0" and keeps explicit values', () => {
    const exec = discoveryConfig('kind = "exec"\nexec_command = ["/bin/true"]');
    expect(discoveryTiming(exec)).toEqual({ intervalMs: 5000, timeoutMs: 3000 });
    const docker = discoveryConfig(
      'kind = "docker"\ndocker_endpoint = "unix:///run/x.sock"\ndocker_container_private_port = 80',
    );
    expect(discoveryTiming(docker)).toEqual({ intervalMs: 10_000, timeoutMs: 5000 });
    const json = discoveryConfig(
      'kind = "json"\njson_endpoint = "http://127.0.0.1:1/x"\ninterval = "250ms"\ntimeout = "1s"',
    );
    expect(discoveryTiming(json)).toEqual({ intervalMs: 250, timeoutMs: 1000 });
    const stat = discoveryConfig('kind = "static"\nstatic_list = ["127.0.0.1:80"]');
    expect(discoveryTiming(stat)).toEqual({ intervalMs: 0, timeoutMs: 0 });
    for (const kind of ["exec", "json", "plaintext", "srv", "docker", "consul"] as const) {
      expect(DISCOVERY_DEFAULTS[kind].intervalMs).toBeGreaterThan(0);
      expect(DISCOVERY_DEFAULTS[kind].timeoutMs).toBeGreaterThan(0);
    }
  });

  it('warns that a dynamic kind with interval "0" refreshes (gobetween would not)', () => {
    const { log, records } = recordingLogger();
    const cfg = discoveryConfig('kind = "exec"\nexec_command = ["/bin/true"]');
    createDiscovery(cfg, () => {}, log);
    const w = records.find((x) => x.level === 40);
    expect(w?.msg).toMatch(/interval is "0": refreshing at the kind's default/);
    expect(w).toMatchObject({ kind: "exec", interval: "5000ms" });
    const quiet = recordingLogger();
    createDiscovery(
      discoveryConfig('kind = "exec"\nexec_command = ["/bin/true"]\ninterval = "1s"'),
      () => {},
      quiet.log,
    );
    createDiscovery(
      discoveryConfig('kind = "static"\nstatic_list = ["127.0.0.1:80"]'),
      () => {},
      quiet.log,
    );
    expect(quiet.records).toEqual([]);
  });
});
