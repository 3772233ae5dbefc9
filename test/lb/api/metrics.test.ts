// Prometheus exposition on [metrics].bind: gobetween's names and our typed counters, from real
// traffic, parsed as Prometheus text.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWithApi } from "../support/api";
import { nameServer, refusingPort, request, type TestTcpServer, waitFor } from "../support/net";

let lb: Awaited<ReturnType<typeof startWithApi>>;
let a: TestTcpServer;
let refusing: Awaited<ReturnType<typeof refusingPort>>;
let dead: number;

beforeAll(async () => {
  a = await nameServer("a");
  refusing = await refusingPort();
  dead = refusing.port;
  lb = await startWithApi(
    `
[servers.web]
bind = "127.0.0.1:0"
balance = "roundrobin"
[servers.web.discovery]
kind = "static"
static_list = ["127.0.0.1:${a.port}", "127.0.0.1:${dead}"]
`,
    `[metrics]\nenabled = true\nbind = "127.0.0.1:0"`,
  );
  const port = Number(lb.balancer.servers.get("web")!.boundAddress().split(":")[1]);
  for (let i = 0; i < 6; i++) expect((await request(port)).data).toBe("a\n");
  await waitFor(
    () => lb.balancer.servers.get("web")!.counters.activeConnections === 0,
    3000,
    "idle",
  );
});
afterAll(async () => {
  refusing?.close();
  await lb.stop(0);
  await a.close();
});

async function scrape(): Promise<{
  text: string;
  type: (name: string) => string;
  value: (series: string) => number;
}> {
  const res = await fetch(`http://${lb.metricsAddress}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return {
    text,
    type: (name) => new RegExp(`^# TYPE ${name} (\\w+)$`, "m").exec(text)?.[1] ?? "missing",
    value: (series) => {
      const line = text.split("\n").find((l) => l.startsWith(`${series} `));
      if (!line) throw new Error(`no series ${series}`);
      return Number(line.slice(series.length + 1));
    },
  };
}

describe("metrics", () => {
  it("exports gobetween's metric names as gauges with its labels", async () => {
    const m = await scrape();
    const aLabels = `{server="web",host="127.0.0.1",port="${a.port}"}`;
    const deadLabels = `{server="web",host="127.0.0.1",port="${dead}"}`;
    for (const name of [
      "gobetween_server_count",
      "gobetween_server_active_connections",
      "gobetween_server_rx_total",
      "gobetween_server_tx_total",
      "gobetween_server_rx_second",
      "gobetween_server_tx_second",
      "gobetween_backend_active_connections",
      "gobetween_backend_refused_connections",
      "gobetween_backend_total_connections",
      "gobetween_backend_rx_bytes",
      "gobetween_backend_tx_bytes",
      "gobetween_backend_rx_second",
      "gobetween_backend_tx_second",
      "gobetween_backend_live",
      "gobetween_build_info",
    ]) {
      expect(m.type(name), name).toBe("gauge");
    }
    expect(m.value('gobetween_server_count{server="web"}')).toBe(2);
    expect(m.value('gobetween_server_rx_total{server="web"}')).toBe(12);
    expect(m.value(`gobetween_backend_total_connections${aLabels}`)).toBe(6);
    expect(m.value(`gobetween_backend_refused_connections${deadLabels}`)).toBeGreaterThanOrEqual(3);
    expect(m.value(`gobetween_backend_live${aLabels}`)).toBe(1);
  });

  it("exports typed counters and process metrics", async () => {
    const m = await scrape();
    const aLabels = `{server="web",host="127.0.0.1",port="${a.port}"}`;
    for (const name of [
      "geoswarm_lb_server_rx_bytes_total",
      "geoswarm_lb_server_tx_bytes_total",
      "geoswarm_lb_backend_connections_total",
      "geoswarm_lb_backend_refused_connections_total",
      "geoswarm_lb_backend_rx_bytes_total",
      "geoswarm_lb_backend_tx_bytes_total",
    ]) {
      expect(m.type(name), name).toBe("counter");
    }
    expect(m.value(`geoswarm_lb_backend_connections_total${aLabels}`)).toBe(6);
    expect(m.value(`geoswarm_lb_backend_rx_bytes_total${aLabels}`)).toBe(12);
    expect(m.type("process_resident_memory_bytes")).toBe("gauge");
  });

  it("drops a server's series when it is deleted", async () => {
    const { call } = await import("../support/api");
    await call(lb.base, "POST", "/servers/temp", {
      bind: "127.0.0.1:0",
      discovery: { kind: "static", static_list: ["127.0.0.1:1"] },
    });
    expect((await scrape()).text).toContain('gobetween_server_count{server="temp"} 1');
    await call(lb.base, "DELETE", "/servers/temp");
    expect((await scrape()).text).not.toContain('server="temp"');
  });
});
