// The native data path (lb/native, lb/src/proxy/native-relay.ts): when the addon is there it
// must really carry the pairs (its counter of handed-over pairs moves), with the JS path's
// accounting; the start-up line says which path runs and why; GEOSWARM_LB_NATIVE forces either.
// The rest of the data-plane suite runs on both paths (vitest.config.ts, project data-plane-js).
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { addonPath, nativeCounters, selectDataPath } from "../../../lb/src/proxy/native-relay";
import { startBalancer } from "../support/balancer";
import { ARTIFACT, NODE22, startLbProcess } from "../support/lb-process";
import { closedPort, pseudoRandom, sha256, tcpServer, waitFor } from "../support/net";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
const dir = mkdtempSync(join(tmpdir(), "geoswarm-native-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hasGcc = spawnSync("gcc", ["--version"]).status === 0;
const forcedJs = process.env.GEOSWARM_LB_NATIVE === "0";

function config(backend: number, extra = ""): string {
  return `
[servers.web]
bind = "127.0.0.1:0"
client_idle_timeout = "10s"
backend_idle_timeout = "10s"
${extra}
[servers.web.discovery]
kind = "static"
static_list = ["127.0.0.1:${backend}"]
`;
}

async function echoBackend(): Promise<number> {
  const echo = await tcpServer((s) => {
    s.on("data", (d) => s.write(d));
    s.on("end", () => s.end());
  });
  cleanups.push(() => echo.close());
  return echo.port;
}

describe.skipIf(forcedJs)("native data path in the balancer", () => {
  it("is built wherever gcc is, and chosen when built", () => {
    if (hasGcc) expect(existsSync(addonPath())).toBe(true);
    if (!existsSync(addonPath())) return;
    expect(selectDataPath()).toMatchObject({ kind: "native", reason: `loaded ${addonPath()}` });
  });

  it.skipIf(!existsSync(addonPath()))(
    "carries a pair in the kernel: 4 MB each way intact, counted exactly per server and backend at close",
    async () => {
      const lb = await startBalancer(config(await echoBackend()));
      cleanups.push(() => lb.stop(0));
      const before = nativeCounters();
      expect(before).not.toBeNull();
      const payload = pseudoRandom(4 * 1024 * 1024, 11);
      const socket = net.connect(lb.port("web"), "127.0.0.1");
      const chunks: Buffer[] = [];
      socket.on("data", (d: Buffer) => chunks.push(d));
      socket.end(payload);
      await new Promise<void>((resolve) => socket.on("end", () => resolve()));
      expect(sha256(Buffer.concat(chunks))).toBe(sha256(payload));
      const server = lb.server("web");
      await waitFor(() => server.stats().active_connections === 0, 5000, "release");
      const s = server.stats();
      expect([s.tx_total, s.rx_total]).toEqual([payload.length, payload.length]);
      expect([s.backends[0].stats.tx, s.backends[0].stats.rx]).toEqual([
        payload.length,
        payload.length,
      ]);
      expect(s.backends[0].stats.active_connections).toBe(0);
      expect(nativeCounters()?.relayed).toBe((before?.relayed ?? 0) + 1);
      expect(nativeCounters()?.active).toBe(0);
    },
  );

  it.skipIf(!existsSync(addonPath()))(
    "an open pair's bytes reach the stats within about a second",
    async () => {
      const lb = await startBalancer(config(await echoBackend()));
      cleanups.push(() => lb.stop(0));
      const socket = net.connect(lb.port("web"), "127.0.0.1");
      cleanups.push(async () => void socket.destroy());
      let got = 0;
      socket.on("data", (d) => (got += d.length));
      socket.write(Buffer.alloc(50_000, 3));
      await waitFor(() => got === 50_000, 5000, "echo");
      const t0 = Date.now();
      await waitFor(
        () =>
          lb.server("web").stats().tx_total === 50_000 &&
          lb.server("web").stats().rx_total === 50_000,
        1500,
        "byte counts of the open pair",
      );
      expect(Date.now() - t0).toBeLessThan(1200);
      expect(nativeCounters()?.active).toBe(1);
    },
  );

  it.skipIf(!existsSync(addonPath()))(
    "a backend's reset closes the client too and releases the pair",
    async () => {
      const backend = await tcpServer((s) => s.on("data", () => s.resetAndDestroy()));
      cleanups.push(() => backend.close());
      const lb = await startBalancer(config(backend.port));
      cleanups.push(() => lb.stop(0));
      const before = nativeCounters()?.relayed ?? 0;
      const socket = net.connect(lb.port("web"), "127.0.0.1");
      socket.on("error", () => {});
      const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
      socket.write("reset me");
      await closed;
      await waitFor(() => lb.server("web").stats().active_connections === 0, 3000, "release");
      expect(lb.server("web").stats().backends[0].stats.active_connections).toBe(0);
      expect(nativeCounters()?.relayed).toBe(before + 1);
      expect(nativeCounters()?.active).toBe(0);
    },
  );

  it.skipIf(!existsSync(addonPath()))(
    "GEOSWARM_LB_NATIVE=0 pins the JS path for the balancers started under it",
    async () => {
      const port = await echoBackend();
      const relayedThrough = async (): Promise<number> => {
        const lb = await startBalancer(config(port));
        cleanups.push(() => lb.stop(0));
        const before = nativeCounters()?.relayed ?? 0;
        const socket = net.connect(lb.port("web"), "127.0.0.1");
        let got = "";
        socket.on("data", (d) => (got += d));
        socket.end("ping");
        await waitFor(() => got === "ping", 5000, "echo");
        socket.destroy();
        return (nativeCounters()?.relayed ?? 0) - before;
      };
      vi.stubEnv("GEOSWARM_LB_NATIVE", "0");
      try {
        expect(await relayedThrough()).toBe(0);
        expect(selectDataPath().kind).toBe("js");
      } finally {
        vi.unstubAllEnvs();
      }
      expect(await relayedThrough()).toBe(1);
    },
  );

  it.skipIf(!existsSync(addonPath()))(
    "the PROXY header JS wrote reaches the backend before the spliced client bytes",
    async () => {
      let seen = "";
      const backend = await tcpServer((s) => s.on("data", (d) => (seen += d.toString("latin1"))));
      cleanups.push(() => backend.close());
      const lb = await startBalancer(
        config(backend.port, `[servers.web.proxy_protocol]\nversion = "1"`),
      );
      cleanups.push(() => lb.stop(0));
      const before = nativeCounters()?.relayed ?? 0;
      const socket = net.connect(lb.port("web"), "127.0.0.1");
      cleanups.push(async () => void socket.destroy());
      socket.write("hello through the kernel");
      await waitFor(() => seen.endsWith("hello through the kernel"), 5000, "client bytes");
      expect(seen).toMatch(
        /^PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ \d+\r\nhello through the kernel$/,
      );
      expect(nativeCounters()?.relayed).toBe(before + 1);
    },
  );
});

/** Starts a copy of the artifact from `home` (with or without an addon beside it). */
async function startCopy(home: string, env: NodeJS.ProcessEnv) {
  const port = await closedPort();
  const cfg = join(home, "lb.toml");
  writeFileSync(
    cfg,
    `[api]\nenabled = false\n${config(1).replace('"127.0.0.1:0"', `"127.0.0.1:${port}"`)}`,
  );
  const lb = await startLbProcess(["-c", cfg], {
    node: NODE22,
    artifact: join(home, "geoswarm-lb.cjs"),
    env,
  });
  cleanups.push(async () => {
    lb.kill("SIGKILL");
    await lb.exited;
  });
  return lb;
}

function home(addon: "none" | "built" | "corrupt"): string {
  const h = mkdtempSync(join(dir, `${addon}-`));
  copyFileSync(ARTIFACT, join(h, "geoswarm-lb.cjs"));
  if (addon === "built")
    copyFileSync(join(ARTIFACT, "..", "geoswarm-lb.node"), join(h, "geoswarm-lb.node"));
  if (addon === "corrupt") writeFileSync(join(h, "geoswarm-lb.node"), "not an ELF file");
  return h;
}

describe("the artifact's data path at start-up", () => {
  it("no addon beside the artifact: JS, and the line says where it looked", async () => {
    const h = home("none");
    const lb = await startCopy(h, { GEOSWARM_LB_NATIVE: "" });
    expect(lb.output()).toContain(`data path: JS`);
    expect(lb.output()).toContain(`no native addon at ${join(h, "geoswarm-lb.node")}`);
  });

  it("an addon that does not load: JS, with the loader's error", async () => {
    const lb = await startCopy(home("corrupt"), { GEOSWARM_LB_NATIVE: "" });
    expect(lb.output()).toMatch(/data path: JS.*geoswarm-lb\.node did not load: /);
  });

  it("GEOSWARM_LB_NATIVE=1 without a usable addon refuses to start, saying why", async () => {
    await expect(startCopy(home("none"), { GEOSWARM_LB_NATIVE: "1" })).rejects.toThrow(
      /GEOSWARM_LB_NATIVE=1 but the native data path is unavailable: no native addon at/,
    );
  });

  it.skipIf(!existsSync(addonPath()))(
    "the built addon beside the artifact: native; GEOSWARM_LB_NATIVE=0 forces JS",
    async () => {
      const h = home("built");
      const native = await startCopy(h, { GEOSWARM_LB_NATIVE: "" });
      expect(native.output()).toContain(`data path: native (splice)`);
      expect(native.output()).toContain(`loaded ${join(h, "geoswarm-lb.node")}`);
      native.kill("SIGKILL");
      await native.exited;
      const js = await startCopy(h, { GEOSWARM_LB_NATIVE: "0" });
      expect(js.output()).toMatch(/data path: JS.*GEOSWARM_LB_NATIVE=0/);
    },
  );
});
