// The article's system, locally and for real: a testbed of N regions (scripts/testbed: one
// dockerd per network namespace, labelled region=region-N), the built balancer artifact
// (lb/dist/geoswarm-lb.cjs) in the root namespace with its REST API and a [state] file, busybox
// httpd containers answering their host name, and entry points registered by calling the
// LbServer dynamic provider's check and create directly (no Pulumi engine).
//
// The balancer's API and entry points bind the testbed's gateway address (unique per test file),
// so fixed ports never collide with other test files; clients run in the root namespace or, with
// `fromRegion`, inside a region's namespace so their source address is that region's.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type ApiState,
  type LbServerState,
  lbServerProvider,
} from "../../../components/lb-server-provider";
import { type LbProcess, startLbProcess } from "../../lb/support/lb-process";
import { request } from "../../lb/support/net";
import { startTestbed, type Testbed } from "../../support/docker/testbed";

export const API_PORT = 8888;

export interface Cluster {
  tb: Testbed;
  /** The bridge address in the root namespace: the balancer's API and entry points bind it. */
  gw: string;
  api: ApiState;
  lb: LbProcess;
  configFile: string;
  statePath: string;
  /** Starts a busybox httpd in region `i` answering `name`, label service=region-i.nginx. */
  httpd(i: number, name: string, port: number, label?: string): Promise<void>;
  /** lbServerProvider.check + create, as the Pulumi engine would call them. */
  register(name: string, server: Record<string, unknown>): Promise<LbServerState>;
  /** The article's entry point for region `i` at gw:port: docker discovery on that region. */
  entryPoint(i: number, port: number, extra?: Record<string, unknown>): Record<string, unknown>;
  /** Rewrites the config file with `extra` TOML after the API sections (then SIGHUP or POST /reload). */
  writeConfig(extra: string): void;
  /** SIGTERM, wait for exit, start the artifact again with the same config. */
  restartLb(): Promise<void>;
  close(): Promise<void>;
}

export interface Answer {
  /** The response body (a host name) or "" when the request failed. */
  body: string;
  error?: string;
}

/** One HTTP/1.0 GET from the root namespace through `host:port`. */
export async function get(host: string, port: number, timeoutMs = 3000): Promise<Answer> {
  const r = await request(port, "GET / HTTP/1.0\r\n\r\n", { host, timeoutMs });
  const [head, body] = r.data.split("\r\n\r\n");
  if (!head?.startsWith("HTTP/1.") || !head.includes(" 200 ") || body === undefined) {
    return { body: "", error: r.error ?? `bad response: ${JSON.stringify(r.data.slice(0, 80))}` };
  }
  return { body: body.trim() };
}

/** One GET with curl run inside network namespace `netns` (its source address is the region's). */
export function fromNamespace(netns: string, url: string): Promise<Answer> {
  return new Promise((resolve) => {
    execFile(
      "nsenter",
      [`--net=/run/netns/${netns}`, "curl", "-s", "-S", "-m", "3", url],
      { timeout: 10_000 },
      (err, stdout, stderr) => {
        if (err) resolve({ body: "", error: `curl exit ${err.code}: ${stderr.trim()}` });
        else resolve({ body: stdout.trim() });
      },
    );
  });
}

function config(gw: string, api: ApiState, statePath: string, extra: string): string {
  return `# e2e balancer: the API; entry points come through the LbServer provider
[logging]
level = "info"

[api]
enabled = true
bind = "${gw}:${API_PORT}"

[api.basic_auth]
login = "${api.username}"
password = "${api.password}"

[state]
path = "${statePath}"

[shutdown]
grace_period = "2s"
${extra}`;
}

export async function startCluster(opts: {
  regions: number;
  configExtra?: string;
}): Promise<Cluster> {
  const tb = await startTestbed({ regions: opts.regions });
  const gw = `${tb.regions[0].ip.split(".").slice(0, 3).join(".")}.1`;
  const dir = mkdtempSync(join(tmpdir(), "geoswarm-e2e-"));
  const configFile = join(dir, "lb.toml");
  const statePath = join(dir, "state.json");
  const api: ApiState = {
    url: `http://${gw}:${API_PORT}`,
    username: "admin",
    password: `e2e-${Math.random().toString(36).slice(2)}`,
  };
  writeFileSync(configFile, config(gw, api, statePath, opts.configExtra ?? ""), { mode: 0o600 });
  let lb: LbProcess;
  try {
    lb = await startLbProcess(["-c", configFile]);
  } catch (err) {
    await tb.down();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const cluster: Cluster = {
    tb,
    gw,
    api,
    lb,
    configFile,
    statePath,
    async httpd(i, name, port, label = `service=region-${i}.nginx`) {
      await tb.docker(
        i,
        "run",
        "-d",
        "--name",
        name,
        "--hostname",
        name,
        "-l",
        label,
        "-p",
        `${port}:80`,
        tb.image,
        "sh",
        "-c",
        "hostname > /www/index.html; exec httpd -f -p 80 -h /www",
      );
    },
    async register(name, server) {
      const news = { serverName: name, api, server };
      const { failures } = await lbServerProvider.check({}, news);
      if (failures.length > 0) {
        throw new Error(
          `check failed: ${failures.map((f) => `${f.property}: ${f.reason}`).join("; ")}`,
        );
      }
      const { outs } = await lbServerProvider.create(news);
      return outs;
    },
    entryPoint(i, port, extra = {}) {
      return {
        bind: `${gw}:${port}`,
        protocol: "tcp",
        balance: "roundrobin",
        client_idle_timeout: "10m",
        backend_idle_timeout: "10m",
        backend_connection_timeout: "1s",
        // The article's ping every 2s with a 1s timeout, plus fails = 2: the first check runs
        // as soon as discovery adds a container, sometimes before its process listens (seen
        // under load; a process listening 0.3 s late: served after 2046 ms with fails = 1,
        // 331 ms with 2). Dead containers leave at once anyway, through docker events.
        healthcheck: { kind: "ping", interval: "2s", timeout: "1s", fails: 2 },
        discovery: {
          kind: "docker",
          docker_endpoint: tb.regions[i - 1].dockerHost,
          docker_container_label: `service=region-${i}.nginx`,
          docker_container_private_port: 80,
        },
        ...extra,
      };
    },
    writeConfig(extra) {
      writeFileSync(configFile, config(gw, api, statePath, extra), { mode: 0o600 });
    },
    async restartLb() {
      cluster.lb.kill("SIGTERM");
      const code = await cluster.lb.exited;
      if (code !== 0)
        throw new Error(`balancer exited ${code} on SIGTERM:\n${cluster.lb.output()}`);
      cluster.lb = await startLbProcess(["-c", configFile]);
    },
    async close() {
      cluster.lb.kill("SIGKILL");
      await cluster.lb.exited;
      try {
        await tb.down();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  return cluster;
}

/** Polls `fn` every 20 ms until it returns true; fails after `ms`. */
export async function until(
  fn: () => Promise<boolean> | boolean,
  ms: number,
  what: string,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
