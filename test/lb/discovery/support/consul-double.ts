// TEST DOUBLE — not Consul. No Consul binary exists on our machines, so discovery is tested
// against this in-process HTTP server, written from Consul's HTTP API documentation
// (developer.hashicorp.com/consul/api-docs/health#list-service-instances-for-service and
// /consul/api-docs/features/blocking). What it implements of that contract:
//   GET /v1/health/service/:service
//     ?dc=        unknown datacenter → 500 "No path to datacenter"
//     ?tag=       repeatable; every given tag must be on the service
//     ?passing    (any value but "false"/"0") → only instances whose checks are all "passing"
//     ?index=&wait=   blocking query: answer when the index moves past `index` or `wait` ends
//                 (Go duration like "30s"; default 5m, max 10m; Consul's wait/16 jitter is left out)
//   X-Consul-Index response header: the raft index of the last change
//   ACL: when a token is required, X-Consul-Token (or ?token=) must carry it, else 403
//        "ACL not found"
//   Response: [{Node: {ID, Node, Address, Datacenter}, Service: {ID, Service, Tags, Address, Port},
//              Checks: [{CheckID, Status, ServiceID}]}]
// Not Consul at all: HTTP basic auth (Consul has none; it stands for a proxy in front of Consul,
// which is what consul_auth_username/password are for) and the switch to HTTPS with client
// certificates, both configured by the test.
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";

export interface Instance {
  id: string;
  node: string;
  nodeAddress: string;
  address?: string;
  port: number;
  tags?: string[];
  checks?: Array<"passing" | "warning" | "critical">;
}

export interface DoubleOptions {
  datacenter?: string;
  aclToken?: string;
  basicAuth?: { user: string; password: string };
  tls?: { key: Buffer; cert: Buffer; ca: Buffer };
}

export interface SeenRequest {
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
}

const MAX_WAIT_MS = 10 * 60_000;

function parseWait(s: string | null): number {
  if (!s) return 5 * 60_000;
  const m = /^(\d+)(ms|s|m)?$/.exec(s);
  if (!m) return 5 * 60_000;
  const n = Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "m" ? 60_000 : 1000);
  return Math.min(n, MAX_WAIT_MS);
}

export class ConsulDouble {
  private readonly services = new Map<string, Instance[]>();
  private index = 1;
  private waiters = new Set<() => void>();
  readonly requests: SeenRequest[] = [];
  private server!: http.Server;
  port = 0;

  constructor(private readonly opts: DoubleOptions = {}) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get currentIndex(): number {
    return this.index;
  }

  /** Replaces the instances of a service; bumps the index and wakes blocking queries. */
  set(service: string, instances: Instance[]): void {
    this.services.set(service, instances);
    this.index++;
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  /** Makes the index go backwards (as after a Consul snapshot restore). */
  resetIndex(to: number): void {
    this.index = to;
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  /** Listens on 127.0.0.1:`port` (0 = any free port). */
  async start(port = 0): Promise<void> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) =>
      void this.handle(req, res);
    this.server = this.opts.tls
      ? https.createServer(
          { ...this.opts.tls, requestCert: true, rejectUnauthorized: true },
          handler,
        )
      : http.createServer(handler);
    await new Promise<void>((r) => this.server.listen(port, "127.0.0.1", r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const w of this.waiters) w();
    this.waiters.clear();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    this.requests.push({ path: url.pathname, query: url.searchParams, headers: req.headers });
    const send = (status: number, body: string, index?: number): void => {
      if (res.destroyed) return;
      res.statusCode = status;
      if (index !== undefined) res.setHeader("X-Consul-Index", String(index));
      res.setHeader("Content-Type", status === 200 ? "application/json" : "text/plain");
      res.end(body);
    };
    if (this.opts.basicAuth) {
      const want = Buffer.from(`${this.opts.basicAuth.user}:${this.opts.basicAuth.password}`);
      if (req.headers.authorization !== `Basic ${want.toString("base64")}`) {
        res.setHeader("WWW-Authenticate", 'Basic realm="consul"');
        return send(401, "Unauthorized");
      }
    }
    const m = /^\/v1\/health\/service\/([^/]+)$/.exec(url.pathname);
    if (req.method !== "GET" || !m) return send(404, "Not found");
    if (this.opts.aclToken !== undefined) {
      const token = req.headers["x-consul-token"] ?? url.searchParams.get("token");
      if (token !== this.opts.aclToken) return send(403, "ACL not found");
    }
    const dc = url.searchParams.get("dc");
    if (dc && dc !== (this.opts.datacenter ?? "dc1")) return send(500, "No path to datacenter");
    const index = Number(url.searchParams.get("index") ?? "0");
    if (index > 0 && index >= this.index) {
      const wait = parseWait(url.searchParams.get("wait"));
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, wait);
        this.waiters.add(done);
        req.on("close", done);
        function done(): void {
          clearTimeout(t);
          resolve();
        }
      });
    }
    const name = decodeURIComponent(m[1]);
    const tags = url.searchParams.getAll("tag");
    const passingRaw = url.searchParams.get("passing");
    const passing = passingRaw !== null && passingRaw !== "false" && passingRaw !== "0";
    const list = (this.services.get(name) ?? [])
      .filter((i) => tags.every((t) => i.tags?.includes(t)))
      .filter((i) => !passing || (i.checks ?? []).every((c) => c === "passing"));
    const body = list.map((i) => ({
      Node: {
        ID: `node-${i.node}`,
        Node: i.node,
        Address: i.nodeAddress,
        Datacenter: this.opts.datacenter ?? "dc1",
      },
      Service: {
        ID: i.id,
        Service: name,
        Tags: i.tags ?? [],
        Address: i.address ?? "",
        Port: i.port,
      },
      Checks: (i.checks ?? []).map((status, n) => ({
        CheckID: `check-${n}`,
        Status: status,
        ServiceID: i.id,
      })),
    }));
    send(200, JSON.stringify(body), this.index);
  }
}
