// docker discovery against a real dockerd (Debian docker.io) started by scripts/testbed in its
// own network namespace: labelled containers with published ports come and go and a real
// balancer's backends follow through the event stream (the resync interval is 1 minute, so
// only events can explain sub-second updates); health_status; the host env var; unpublished
// ports; polling when /events is unavailable.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireDocker, startTestbed, type Testbed } from "../../support/docker/testbed";
import { type RunningBalancer, startBalancer } from "../support/balancer";
import { request } from "../support/net";
import { type Started, startDiscovery, waitFor } from "./support/helpers";

const canRun = requireDocker("test/lb/discovery/docker.test.ts");
let tb: Testbed;
let lb: RunningBalancer;
const label = "service=web";

beforeAll(async () => {
  if (!canRun) return;
  tb = await startTestbed({ regions: 1 });
  lb = await startBalancer(`
[servers.web]
bind = "127.0.0.1:0"
[servers.web.discovery]
kind = "docker"
docker_endpoint = "${tb.regions[0].dockerHost}"
docker_container_label = "${label}"
docker_container_private_port = 80
interval = "1m"
`);
}, 120_000);

afterAll(async () => {
  await lb?.stop();
  await tb?.down();
}, 120_000);

/** A busybox httpd container answering its name on port 80. */
function httpd(name: string, ...flags: string[]): string[] {
  return [
    "run",
    "-d",
    "--name",
    name,
    ...flags,
    tb.image,
    "sh",
    "-c",
    `echo ${name} > /www/index.html; exec httpd -f -p 80 -h /www`,
  ];
}

function discovered(): string[] {
  return lb
    .server("web")
    .table.backends.filter((b) => b.discovered)
    .map((b) => b.key)
    .sort();
}

async function viaBalancer(): Promise<string> {
  const r = await request(lb.port("web"), "GET /index.html HTTP/1.0\r\n\r\n", { timeoutMs: 2000 });
  return r.data.split("\r\n\r\n")[1]?.trim() ?? `(no body: ${r.error ?? r.data})`;
}

/** Asks through the balancer until `want` answers or `ms` pass; returns the last answer. */
async function servedWithin(want: string, ms: number): Promise<string> {
  const t0 = Date.now();
  let body = "";
  while (Date.now() - t0 < ms) {
    body = await viaBalancer();
    if (body === want) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return body;
}

describe.skipIf(!canRun)("docker discovery (real dockerd)", () => {
  it("a labelled container with a published port is served within 1 s of docker run; gone within 1 s of docker kill", async () => {
    const ip = tb.regions[0].ip;
    await tb.docker(1, ...httpd("web-a", "-l", label, "-l", "sni=a.example", "-p", "22001:80"));
    await waitFor(() => discovered().includes(`${ip}:22001`), "web-a discovered", 1000);
    expect(await servedWithin("web-a", 2000)).toBe("web-a");
    expect(lb.server("web").table.get(`${ip}:22001`)?.sni).toBe("a.example");

    // unlabelled, and labelled but unpublished, containers are not backends
    await tb.docker(1, ...httpd("other", "-l", "service=other", "-p", "22002:80"));
    await tb.docker(1, ...httpd("hidden", "-l", label));
    await tb.docker(1, ...httpd("web-b", "-l", label, "-p", "22003:80"));
    await waitFor(() => discovered().includes(`${ip}:22003`), "web-b discovered", 1000);
    expect(discovered()).toEqual([`${ip}:22001`, `${ip}:22003`]);

    await tb.docker(1, "kill", "web-a");
    await waitFor(() => !discovered().includes(`${ip}:22001`), "web-a removed", 1000);
    await tb.docker(1, "stop", "-t", "0", "web-b");
    await waitFor(() => discovered().length === 0, "web-b removed", 1000);
    await tb.docker(1, "rm", "-f", "web-a", "web-b", "other", "hidden");
  });

  it("waits for a container's healthcheck to pass (health_status events)", async () => {
    const ip = tb.regions[0].ip;
    await tb.docker(
      1,
      ...httpd(
        "web-h",
        "-l",
        label,
        "-p",
        "22004:80",
        "--health-cmd",
        "test -e /tmp/ready",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
      ),
    );
    await new Promise((r) => setTimeout(r, 600));
    expect(discovered()).not.toContain(`${ip}:22004`);
    await tb.docker(1, "exec", "web-h", "touch", "/tmp/ready");
    await waitFor(() => discovered().includes(`${ip}:22004`), "healthy container", 3000);
    await tb.docker(1, "exec", "web-h", "rm", "/tmp/ready");
    await waitFor(() => !discovered().includes(`${ip}:22004`), "unhealthy container", 3000);
    await tb.docker(1, "rm", "-f", "web-h");
  });

  it("unix endpoint: host from docker_container_host_env_var, else 127.0.0.1; skipped ports logged at debug", async () => {
    let d: Started | undefined;
    try {
      d = startDiscovery(`kind = "docker"
docker_endpoint = "${tb.regions[0].dockerSock}"
docker_container_label = "service=env"
docker_container_private_port = 80
docker_container_host_env_var = "PUBLIC_HOST"
interval = "1m"`);
      await tb.docker(
        1,
        ...httpd("env-a", "-l", "service=env", "-p", "22005:80", "-e", "PUBLIC_HOST=203.0.113.7"),
      );
      await tb.docker(1, ...httpd("env-b", "-l", "service=env", "-p", "22006:80"));
      await tb.docker(1, ...httpd("env-c", "-l", "service=env", "--expose", "80"));
      const started = d;
      await waitFor(() => started.current()?.length === 2, "two env containers", 2000);
      expect(d.current()).toEqual(["127.0.0.1:22006", "203.0.113.7:22005"]);
      await waitFor(
        () =>
          started.records.some(
            (r) => r.msg.includes("port is not published") && r.container === "env-c",
          ),
        "debug line for env-c",
        2000,
      );
      const line = d.records.find((r) => r.container === "env-c");
      expect(line?.level).toBe(20);
    } finally {
      d?.stop();
      await tb.docker(1, "rm", "-f", "env-a", "env-b", "env-c");
    }
  });

  it("polls every second when the event stream is unavailable, and logs that once", async () => {
    // An HTTP proxy in front of the real engine that refuses /events (as some API proxies do).
    const proxy = http.createServer((req, res) => {
      if (req.url?.startsWith("/events")) {
        res.statusCode = 501;
        res.end("events not supported here");
        return;
      }
      const up = http.request(
        {
          socketPath: tb.regions[0].dockerSock.slice(7),
          path: req.url,
          method: req.method,
          headers: req.headers,
        },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on("error", () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    const port = (proxy.address() as AddressInfo).port;
    const d = startDiscovery(`kind = "docker"
docker_endpoint = "http://127.0.0.1:${port}"
docker_container_label = "service=poll"
docker_container_private_port = 80
interval = "1m"`);
    try {
      await waitFor(() => d.updates.length >= 1, "first list", 3000);
      await tb.docker(1, ...httpd("poll-a", "-l", "service=poll", "-p", "22007:80"));
      const ms = await waitFor(
        () => d.current()?.join() === "127.0.0.1:22007",
        "polled list",
        3000,
      );
      expect(ms).toBeLessThan(2000);
      await new Promise((r) => setTimeout(r, 1200));
      const lost = d.records.filter((r) => r.msg.startsWith("discovery watch lost"));
      expect(lost).toHaveLength(1);
      expect(String(lost[0].err)).toContain("/events: HTTP 501");
    } finally {
      d.stop();
      proxy.closeAllConnections();
      proxy.close();
      await tb.docker(1, "rm", "-f", "poll-a");
    }
  });
});
