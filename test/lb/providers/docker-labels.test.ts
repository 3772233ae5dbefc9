// The docker-labels provider against a real dockerd (scripts/testbed, one engine in its own
// network namespace) and a whole in-process balancer (API, metrics, state file): labelled
// containers become served ports; refusals (bad label, out of range, port taken, two groups
// with different settings) are named in GET /providers, GET /servers, the log and /metrics while
// the rest keeps serving; the last container going drains, then closes; label servers are
// read-only to the API and never in the state file. The restart of the built artifact is at the
// end (it rebuilds the servers from Docker).
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfigText, validateConfig } from "../../../lb/src/config";
import { type RunningLb, runLb } from "../../../lb/src/run";
import { requireDocker, startTestbed, type Testbed } from "../../support/docker/testbed";
import { type LogRecord, recordingLogger } from "../discovery/support/helpers";
import { AUTH, call } from "../support/api";
import { startLbProcess } from "../support/lb-process";
import { request, sleep, waitFor } from "../support/net";

const canRun = requireDocker("test/lb/providers/docker-labels.test.ts");
let tb: Testbed;
let lb: RunningLb;
let base: string;
let records: LogRecord[];
const dir = mkdtempSync(join(tmpdir(), "labels-"));
const statePath = join(dir, "state.json");
// A range of its own, so test files running side by side never share a port.
// Below the ephemeral range (32768+), where a client socket could hold one.
const FIRST = 24000 + Math.floor(Math.random() * 80) * 100;
const LAST = FIRST + 49;
const P = (i: number) => FIRST + i;

function configToml(endpoint: string, extra = ""): string {
  return `
[api]
enabled = true
bind = "127.0.0.1:0"
[api.basic_auth]
login = "${AUTH.login}"
password = "${AUTH.password}"
[state]
path = "${statePath}"
[providers.docker]
endpoint = "${endpoint}"
listen_host = "127.0.0.1"
port_range = "${FIRST}-${LAST}"
drain_grace = "1500ms"
resync_interval = "1m"
${extra}
[servers.file]
bind = "127.0.0.1:${P(40)}"
[servers.file.discovery]
kind = "static"
static_list = ["127.0.0.1:9"]
`;
}

beforeAll(async () => {
  if (!canRun) return;
  tb = await startTestbed({ regions: 1 });
  const { config } = validateConfig(
    parseConfigText(configToml(tb.regions[0].dockerHost), "toml", { envSubst: false }),
  );
  config.metrics = { enabled: true, bind: "127.0.0.1:0" };
  const rec = recordingLogger();
  records = rec.records;
  lb = await runLb(config, rec.log);
  base = `http://${lb.apiAddress}`;
}, 120_000);

afterAll(async () => {
  await lb?.stop(0);
  await tb?.down();
}, 120_000);

/** A busybox httpd container answering its name on port 80, labelled with geoswarm.lb.*. */
function httpd(name: string, labels: Record<string, string>, ...flags: string[]): string[] {
  const l = Object.entries(labels).flatMap(([k, v]) => ["-l", `geoswarm.lb.${k}=${v}`]);
  return [
    "run",
    "-d",
    "--name",
    name,
    ...l,
    ...flags,
    tb.image,
    "sh",
    "-c",
    `echo ${name} > /www/index.html; exec httpd -f -p 80 -h /www`,
  ];
}

async function get(port: number): Promise<string> {
  const r = await request(port, "GET /index.html HTTP/1.0\r\n\r\n", { timeoutMs: 2000 });
  return r.data.split("\r\n\r\n")[1]?.trim() ?? `(no body: ${r.error ?? "closed"})`;
}

/** Asks until `want` answers; resolves with the ms it took (bounded by `ms`). */
async function servedWithin(port: number, want: string, ms: number): Promise<number> {
  const t0 = Date.now();
  let body = "";
  while (Date.now() - t0 < ms) {
    body = await get(port);
    if (body === want) return Date.now() - t0;
    await sleep(5);
  }
  throw new Error(`port ${port} did not serve ${want} within ${ms} ms (last: ${body})`);
}

interface Refused {
  source: string;
  name: string;
  label: string;
  value: string;
  problem: string;
  port?: number;
}

async function refusals(): Promise<Refused[]> {
  const r = await call(base, "GET", "/providers");
  return (r.json as { docker: { refusals: Refused[] } }).docker.refusals;
}

const pickups: number[] = [];

describe.skipIf(!canRun)("docker-labels provider (real dockerd)", () => {
  it("a container with two labels is served on its port within the pickup budget; read-only, not persisted", async () => {
    for (const [i, name] of ["web-a", "web-b"].entries()) {
      await tb.docker(1, ...httpd(name, { port: String(P(1 + i)) }, "-p", `2300${i}:80`));
      const ms = await servedWithin(P(1 + i), name, 5000);
      pickups.push(ms);
    }
    // Measured from `docker run` returning to the first connection routed to the container.
    process.stdout.write(
      `docker-labels pickup (docker run returned → first routed connection): ${pickups.join(" ms, ")} ms\n`,
    );

    const servers = (await call(base, "GET", "/servers")).json as Record<
      string,
      Record<string, unknown>
    >;
    const name = `docker-labels-${P(1)}`;
    expect(servers[name]).toMatchObject({
      origin: "docker-labels",
      bind: `127.0.0.1:${P(1)}`,
      protocol: "tcp",
      discovery: { kind: "static", static_list: [`${tb.regions[0].ip}:23000`] },
      refused: [],
    });
    expect(servers.file.origin).toBeUndefined();

    const put = await call(base, "PUT", `/servers/${name}`, { bind: "127.0.0.1:1" });
    expect(put.status).toBe(409);
    expect((put.json as { error: string }).error).toMatch(
      /read-only .*change or remove the labels/,
    );
    const del = await call(base, "DELETE", `/servers/${name}`);
    expect(del.status).toBe(409);
    // An API server on a label server's port is refused too.
    const post = await call(base, "POST", "/servers/api-one", {
      bind: `127.0.0.1:${P(1)}`,
      discovery: { kind: "static", static_list: ["127.0.0.1:9"] },
    });
    expect(post.status).toBe(409);
    expect((post.json as { error: string }).error).toMatch(/served from Docker labels/);
    // An API server the state file keeps: label servers are never written there.
    const ok = await call(base, "POST", "/servers/api-taken", {
      bind: `127.0.0.1:${P(30)}`,
      discovery: { kind: "static", static_list: ["127.0.0.1:9"] },
    });
    expect(ok.status).toBe(200);
    const state = JSON.parse(readFileSync(statePath, "utf8")) as {
      servers: Record<string, unknown>;
    };
    expect(Object.keys(state.servers)).toEqual(["api-taken"]);
    // /dump keeps the section (so a saved dump rebuilds them) but not the label servers.
    const dump = (await call(base, "GET", "/dump?format=json")).json as {
      providers: { docker: { port_range: string } };
      servers: Record<string, unknown>;
    };
    expect(dump.providers.docker.port_range).toBe(`${FIRST}-${LAST}`);
    expect(Object.keys(dump.servers).sort()).toEqual(["api-taken", "file"]);
    expect((await call(base, "GET", "/dump")).status).toBe(200);
    expect(await get(P(1))).toBe("web-a");
  });

  it("a bad label, an out-of-range port, a taken port and two groups with different settings are each refused by name; the rest keeps serving", async () => {
    await tb.docker(
      1,
      ...httpd("bad", { port: String(P(3)), balance: "fastest" }, "-p", "23010:80"),
    );
    await tb.docker(1, ...httpd("far", { port: String(LAST + 1) }, "-p", "23011:80"));
    await tb.docker(1, ...httpd("on-file", { port: String(P(40)) }, "-p", "23012:80"));
    await tb.docker(1, ...httpd("on-api", { port: String(P(30)) }, "-p", "23013:80"));
    await tb.docker(
      1,
      ...httpd("rr", { port: String(P(5)), balance: "roundrobin" }, "-p", "23014:80"),
    );
    await tb.docker(
      1,
      ...httpd("lc", { port: String(P(5)), balance: "leastconn" }, "-p", "23015:80"),
    );
    let list: Refused[] = [];
    const t0 = Date.now();
    while (Date.now() - t0 < 5000) {
      list = await refusals();
      if (list.length >= 5) break;
      await sleep(50);
    }
    const lines = list
      .map((r) => `${r.source} ${r.name}: ${r.label}=${r.value}: ${r.problem}`)
      .sort();
    expect(lines).toEqual([
      `container bad: geoswarm.lb.balance=fastest: expected one of "weight", "roundrobin", "leastconn", "leastbandwidth", "iphash", "iphash1", got "fastest"`,
      `container far: geoswarm.lb.port=${LAST + 1}: expected a port in the allowed range ${FIRST}-${LAST} (providers.docker.port_range), got ${LAST + 1}`,
      `container lc: geoswarm.lb.balance=leastconn: port ${P(5)} is served with other settings (balance roundrobin, from container rr; this one asks for leastconn): use the same labels or another port`,
      `container on-api: geoswarm.lb.port=${P(30)}: expected a port no other listener of the balancer uses; ${P(30)} is used by server "api-taken" (API)`,
      `container on-file: geoswarm.lb.port=${P(40)}: expected a port no other listener of the balancer uses; ${P(40)} is used by server "file" (config file)`,
    ]);
    // The older group keeps the port, and the refusal shows on its server too.
    expect(await servedWithin(P(5), "rr", 3000)).toBeGreaterThanOrEqual(0);
    const server = (await call(base, "GET", `/servers/docker-labels-${P(5)}`)).json as {
      refused: Refused[];
    };
    expect(server.refused.map((r) => r.name)).toEqual(["lc"]);
    // Nothing was stolen or started for the refused ones; everything else still serves.
    expect(lb.balancer.servers.has(`docker-labels-${P(3)}`)).toBe(false);
    expect(lb.balancer.servers.get("file")?.config.discovery.static_list).toEqual(["127.0.0.1:9"]);
    expect(await get(P(1))).toBe("web-a");
    expect(await get(P(2))).toBe("web-b");

    // /metrics names them; the log says each once, however many events and fetches came since.
    const metrics = await (await fetch(`http://${lb.metricsAddress}/metrics`)).text();
    expect(metrics).toMatch(
      new RegExp(
        `geoswarm_lb_provider_refused\\{provider="docker-labels",source="container",name="bad",label="geoswarm.lb.balance",port="${P(3)}"\\} 1`,
      ),
    );
    await tb.docker(1, "restart", "-t", "0", "web-b"); // more events, more fetches
    await servedWithin(P(2), "web-b", 5000);
    // The dashboard lists them (real headless Chromium, as test/lb/api/dashboard.test.ts).
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run"],
    });
    try {
      const page = await browser.newPage({
        httpCredentials: { username: AUTH.login, password: AUTH.password },
      });
      await page.goto(`${base}/dashboard`);
      await page.waitForSelector('[data-refusal="container bad geoswarm.lb.balance"]', {
        timeout: 5000,
      });
      const box = await page.textContent("#refusals");
      expect(box).toContain("Refused labels (5)");
      expect(box).toContain(`is used by server "file" (config file)`);
      const heading = await page.textContent(`[data-server="docker-labels-${P(5)}"] h2`);
      expect(heading).toContain("from docker-labels (read-only)");
    } finally {
      await browser.close();
    }
    const logged = records.filter((r) =>
      r.msg.startsWith("docker labels: refused: container bad:"),
    );
    expect(logged).toHaveLength(1);

    // The fix clears the refusal.
    await tb.docker(1, "rm", "-f", "bad", "far", "on-file", "on-api", "lc");
    const t1 = Date.now();
    while (Date.now() - t1 < 5000 && (await refusals()).length > 0) await sleep(50);
    expect(await refusals()).toEqual([]);
  });

  it("a port published on the node's loopback is refused by name, never served from the balancer's own loopback", async () => {
    // What the balancer's own host answers on 127.0.0.1 at that port (its Consul agent, say).
    const own = createServer((sock) => sock.end("HTTP/1.0 200 OK\r\n\r\nown-host\n"));
    await new Promise<void>((resolve) => own.listen(0, "127.0.0.1", resolve));
    const ownPort = (own.address() as AddressInfo).port;
    try {
      await tb.docker(1, ...httpd("loop", { port: String(P(7)) }, "-p", `127.0.0.1:${ownPort}:80`));
      let mine: Refused | undefined;
      const t0 = Date.now();
      while (Date.now() - t0 < 5000 && !mine) {
        mine = (await refusals()).find((r) => r.name === "loop");
        if (!mine) await sleep(50);
      }
      expect(mine).toEqual({
        source: "container",
        name: "loop",
        label: "geoswarm.lb.target",
        value: `127.0.0.1:${ownPort}`,
        problem: `expected port 80 published on an address the balancer reaches the container at; container loop publishes it on 127.0.0.1:${ownPort}, which is loopback (the balancer's own host, not the container's)`,
        port: P(7),
      });
      expect(lb.balancer.servers.has(`docker-labels-${P(7)}`)).toBe(false);
      expect(await get(P(7))).not.toBe("own-host");
      expect(await get(P(1))).toBe("web-a");
      await tb.docker(1, "rm", "-f", "loop");
      const t1 = Date.now();
      while (Date.now() - t1 < 5000 && (await refusals()).length > 0) await sleep(50);
      expect(await refusals()).toEqual([]);
    } finally {
      own.close();
    }
  });

  it("the last container going drains: the listener stays open for drain_grace (a replacement re-uses it), then closes", async () => {
    const port = P(5);
    await tb.docker(1, "rm", "-f", "rr");
    await waitFor(
      () =>
        (lb.balancer.servers
          .get(`docker-labels-${port}`)
          ?.table.backends.filter((b) => b.discovered).length ?? 1) === 0,
      3000,
      "rr's backend removed",
    );
    // Open, no backend: the connection is accepted and closed.
    expect(
      (await request(port, "GET / HTTP/1.0\r\n\r\n", { timeoutMs: 1000 })).error,
    ).toBeUndefined();
    // A replacement within the grace is served on the same listener.
    await tb.docker(
      1,
      ...httpd("rr2", { port: String(port), balance: "leastconn" }, "-p", "23016:80"),
    );
    await servedWithin(port, "rr2", 3000);
    expect(lb.balancer.servers.get(`docker-labels-${port}`)?.config.balance).toBe("leastconn");
    await tb.docker(1, "rm", "-f", "rr2");
    const gone = Date.now();
    await waitFor(() => !lb.balancer.servers.has(`docker-labels-${port}`), 6000, "listener closed");
    const drained = Date.now() - gone;
    expect(drained).toBeGreaterThanOrEqual(1000);
    expect((await request(port, "x", { timeoutMs: 1000 })).error).toMatch(/ECONNREFUSED/);
    process.stdout.write(
      `docker-labels drain: listener closed ${drained} ms after docker rm (drain_grace 1500ms)\n`,
    );
  });

  it("the built artifact rebuilds label servers from Docker after a restart, and keeps them across SIGHUP", async () => {
    await lb.stop(0);
    const configPath = join(dir, "lb.toml");
    writeFileSync(configPath, configToml(tb.regions[0].dockerHost));
    let proc = await startLbProcess(["-c", configPath]);
    try {
      await servedWithin(P(1), "web-a", 5000);
      await servedWithin(P(2), "web-b", 5000);
      proc.kill("SIGHUP");
      await waitFor(() => proc.output().includes("configuration reloaded"), 5000, "reload");
      expect(await get(P(1))).toBe("web-a");
      proc.kill("SIGTERM");
      await proc.exited;
      proc = await startLbProcess(["-c", configPath]);
      const ms = await servedWithin(P(1), "web-a", 5000);
      process.stdout.write(`docker-labels restart: served ${ms} ms after "geoswarm-lb started"\n`);
      const state = JSON.parse(readFileSync(statePath, "utf8")) as {
        servers: Record<string, unknown>;
      };
      expect(Object.keys(state.servers)).toEqual(["api-taken"]);
    } finally {
      proc.kill("SIGKILL");
      await proc.exited;
    }
  }, 60_000);
});
