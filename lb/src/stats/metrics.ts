// Prometheus exposition. gobetween's metric names (all gauges, as gobetween exports them, so
// existing dashboards keep working) plus correctly typed counters under geoswarm_lb_*.
// Values are read from the servers at scrape time: nothing on the data path.
import { createServer, type Server as HttpServer } from "node:http";
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import { credentialsMatch } from "../api/credentials";
import type { BasicAuth } from "../config/types";
import type { Backend } from "../core/backend";
import type { Balancer } from "../core/balancer";
import type { Server } from "../core/server";
import { VERSION } from "../version";

type Labels = Record<string, string>;
type Sample = { labels: Labels; value: number };

interface Family {
  name: string;
  help: string;
  type: "gauge" | "counter";
  labelNames: string[];
  read: (balancer: Balancer) => Sample[];
}

const SERVER = ["server"];
const BACKEND = ["server", "host", "port"];

function perServer(b: Balancer, f: (s: Server) => number): Sample[] {
  return [...b.servers].map(([name, s]) => ({ labels: { server: name }, value: f(s) }));
}

function perBackend(b: Balancer, f: (backend: Backend) => number): Sample[] {
  const out: Sample[] = [];
  for (const [name, s] of b.servers) {
    for (const backend of s.table.backends) {
      out.push({
        labels: { server: name, host: backend.host, port: String(backend.port) },
        value: f(backend),
      });
    }
  }
  return out;
}

const FAMILIES: Family[] = [
  {
    name: "geoswarm_lb_thread_connections",
    help: "Client connections open on each data-plane thread (0 = main; workers > 1: the kernel's SO_REUSEPORT spread)",
    type: "gauge",
    labelNames: ["server", "thread"],
    read: (b) =>
      [...b.servers].flatMap(([name, s]) =>
        b.threadConnections(s).map((value, thread) => ({
          labels: { server: name, thread: String(thread) },
          value,
        })),
      ),
  },
  {
    name: "geoswarm_lb_server_failed",
    help: "1 for a server from the state file that could not start (see GET /servers/:name)",
    type: "gauge",
    labelNames: SERVER,
    read: (b) => [...b.failed.keys()].map((name) => ({ labels: { server: name }, value: 1 })),
  },
  {
    name: "geoswarm_lb_provider_refused",
    help: "1 for each label a provider refuses, naming the container or service and the label (see GET /providers)",
    type: "gauge",
    labelNames: ["provider", "source", "name", "label", "port"],
    read: (b) =>
      [...b.providers].flatMap(([provider, p]) =>
        p.status().refusals.map((r) => ({
          labels: {
            provider,
            source: r.source,
            name: r.name,
            label: r.label,
            port: r.port === undefined ? "" : String(r.port),
          },
          value: 1,
        })),
      ),
  },
  {
    name: "geoswarm_lb_provider_servers",
    help: "Servers a provider keeps (docker-labels: one per labelled port)",
    type: "gauge",
    labelNames: ["provider"],
    read: (b) =>
      [...b.providers].map(([provider, p]) => ({
        labels: { provider },
        value: p.status().servers.length,
      })),
  },
  // gobetween names (gauges, even the *_total ones, as gobetween exports them)
  {
    name: "gobetween_server_count",
    help: "Number of backends in the server's table (gobetween's name)",
    type: "gauge",
    labelNames: SERVER,
    read: (b) => perServer(b, (s) => s.table.backends.length),
  },
  {
    name: "gobetween_server_active_connections",
    help: "Client connections (TCP) or sessions (UDP)",
    type: "gauge",
    labelNames: SERVER,
    read: (b) => perServer(b, (s) => s.activeConnections),
  },
  {
    name: "gobetween_server_rx_total",
    help: "Bytes received from backends",
    type: "gauge",
    labelNames: SERVER,
    read: (b) => perServer(b, (s) => s.counters.rxTotal),
  },
  {
    name: "gobetween_server_tx_total",
    help: "Bytes sent to backends",
    type: "gauge",
    labelNames: SERVER,
    read: (b) => perServer(b, (s) => s.counters.txTotal),
  },
  {
    name: "gobetween_server_rx_second",
    help: "Bytes per second received from backends (2 s window)",
    type: "gauge",
    labelNames: SERVER,
    read: (b) => perServer(b, (s) => s.rxPerSecond),
  },
  {
    name: "gobetween_server_tx_second",
    help: "Bytes per second sent to backends (2 s window)",
    type: "gauge",
    labelNames: SERVER,
    read: (b) => perServer(b, (s) => s.txPerSecond),
  },
  {
    name: "gobetween_backend_active_connections",
    help: "Connections to the backend",
    type: "gauge",
    labelNames: BACKEND,
    read: (b) => perBackend(b, (x) => x.activeConnections),
  },
  {
    name: "gobetween_backend_refused_connections",
    help: "Failed connects to the backend",
    type: "gauge",
    labelNames: BACKEND,
    read: (b) => perBackend(b, (x) => x.refusedConnections),
  },
  {
    name: "gobetween_backend_total_connections",
    help: "Successful connects to the backend",
    type: "gauge",
    labelNames: BACKEND,
    read: (b) => perBackend(b, (x) => x.totalConnections),
  },
  {
    name: "gobetween_backend_rx_bytes",
    help: "Bytes received from the backend",
    type: "gauge",
    labelNames: BACKEND,
    read: (b) => perBackend(b, (x) => x.rxBytes),
  },
  {
    name: "gobetween_backend_tx_bytes",
    help: "Bytes sent to the backend",
    type: "gauge",
    labelNames: BACKEND,
    read: (b) => perBackend(b, (x) => x.txBytes),
  },
  {
    name: "gobetween_backend_rx_second",
    help: "Bytes per second received from the backend",
    type: "gauge",
    labelNames: BACKEND,
    read: (b) => perBackend(b, (x) => x.rxSecond),
  },
  {
    name: "gobetween_backend_tx_second",
    help: "Bytes per second sent to the backend",
    type: "gauge",
    labelNames: BACKEND,
    read: (b) => perBackend(b, (x) => x.txSecond),
  },
  {
    name: "gobetween_backend_live",
    help: "1 when the backend passes its healthcheck (always present, unlike gobetween)",
    type: "gauge",
    labelNames: BACKEND,
    read: (b) => perBackend(b, (x) => (x.live ? 1 : 0)),
  },
  // typed counters
  {
    name: "geoswarm_lb_server_rx_bytes_total",
    help: "Bytes received from backends",
    type: "counter",
    labelNames: SERVER,
    read: (b) => perServer(b, (s) => s.counters.rxTotal),
  },
  {
    name: "geoswarm_lb_server_tx_bytes_total",
    help: "Bytes sent to backends",
    type: "counter",
    labelNames: SERVER,
    read: (b) => perServer(b, (s) => s.counters.txTotal),
  },
  {
    name: "geoswarm_lb_backend_connections_total",
    help: "Successful connects to the backend",
    type: "counter",
    labelNames: BACKEND,
    read: (b) => perBackend(b, (x) => x.totalConnections),
  },
  {
    name: "geoswarm_lb_backend_refused_connections_total",
    help: "Failed connects to the backend",
    type: "counter",
    labelNames: BACKEND,
    read: (b) => perBackend(b, (x) => x.refusedConnections),
  },
  {
    name: "geoswarm_lb_backend_rx_bytes_total",
    help: "Bytes received from the backend",
    type: "counter",
    labelNames: BACKEND,
    read: (b) => perBackend(b, (x) => x.rxBytes),
  },
  {
    name: "geoswarm_lb_backend_tx_bytes_total",
    help: "Bytes sent to the backend",
    type: "counter",
    labelNames: BACKEND,
    read: (b) => perBackend(b, (x) => x.txBytes),
  },
];

/** A registry whose metrics are computed from `balancer` on every scrape. */
export function createMetricsRegistry(balancer: Balancer): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: "gobetween_build_info",
    help: "Build information",
    labelNames: ["version", "revision", "branch", "goversion"],
    registers: [registry],
  }).set({ version: VERSION, revision: "", branch: "", goversion: `node ${process.version}` }, 1);
  for (const family of FAMILIES) {
    const Metric = family.type === "counter" ? Counter : Gauge;
    new Metric({
      name: family.name,
      help: family.help,
      labelNames: family.labelNames,
      registers: [registry],
      collect(this: Gauge | Counter) {
        // Absolute values are copied in; resetting first drops backends that left the table.
        this.reset();
        for (const { labels, value } of family.read(balancer)) {
          if (this instanceof Gauge) this.set(labels, value);
          else this.inc(labels, value);
        }
      },
    });
  }
  return registry;
}

/** Serves GET /metrics on `host:port`; `beforeScrape` brings the numbers up to date. */
/** True when an Authorization header carries these Basic credentials (constant time). */
function authorized(header: string | undefined, auth: BasicAuth): boolean {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header ?? "");
  if (!m) return false;
  const decoded = Buffer.from(m[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return false;
  return credentialsMatch(decoded.slice(0, colon), decoded.slice(colon + 1), auth);
}

export async function startMetricsServer(
  registry: Registry,
  host: string,
  port: number,
  beforeScrape: () => Promise<void> = () => Promise.resolve(),
  auth?: BasicAuth,
): Promise<HttpServer> {
  if (auth?.password_file !== undefined && auth.password === "") {
    throw new Error(
      "metrics.basic_auth.password_file was not read (load the config with loadConfig)",
    );
  }
  const server = createServer((req, res) => {
    if (auth && !authorized(req.headers.authorization, auth)) {
      res
        .writeHead(401, {
          "content-type": "text/plain",
          "www-authenticate": 'Basic realm="metrics"',
        })
        .end("unauthorized\n");
      return;
    }
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("404 page not found\n");
      return;
    }
    beforeScrape()
      .then(() => registry.metrics())
      .then(
        (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
        (err: Error) =>
          res.writeHead(500, { "content-type": "text/plain" }).end(`${err.message}\n`),
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host || undefined, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}
