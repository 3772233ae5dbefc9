// The operator's and the clients' side of the article's steps on a deployed rehearsal: the
// workload through the manager (with the program's DOCKER_HOST and client TLS outputs), requests
// from inside the namespaces, the balancer's API over HTTPS with its CA pinned, and the Consul
// agent stand-in for the balancer's discovery script.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { type Machine, run, shq } from "./machines";
import type { Rehearsal } from "./rehearsal";

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Probe {
  /** The response body, trimmed; "" when the request failed. */
  body: string;
  /** curl's exit code: 0 ok, 7 refused, 28 timed out (a dropped packet), 52/56 closed. */
  code: number;
}

/** One HTTP GET with curl from namespace `from` (a machine or client), or from the root namespace (the operator). */
export async function get(from: Machine | "operator", url: string, timeoutS = 2): Promise<Probe> {
  const curl = ["curl", "-s", "-S", "-m", String(timeoutS), url];
  const r =
    from === "operator"
      ? await run(curl[0], curl.slice(1))
      : await run("nsenter", [`--net=/run/netns/${from.netns}`, ...curl]);
  return { body: r.code === 0 ? r.stdout.trim() : "", code: r.code };
}

export class Operator {
  private readonly tlsDir: string;

  constructor(readonly r: Rehearsal) {
    this.tlsDir = join(r.tb.dir, "operator-docker-tls");
  }

  private get outputs() {
    if (!this.r.outputs) throw new Error("rehearsal: deploy() first");
    return this.r.outputs;
  }

  /** The docker CLI against the manager, as `DOCKER_HOST` and `dockerClientTls` of the stack outputs say. */
  async docker(...args: string[]): Promise<string> {
    const tls = this.outputs.dockerClientTls;
    mkdirSync(this.tlsDir, { recursive: true, mode: 0o700 });
    writeFileSync(join(this.tlsDir, "ca.pem"), tls.caPem);
    writeFileSync(join(this.tlsDir, "cert.pem"), tls.certPem);
    writeFileSync(join(this.tlsDir, "key.pem"), tls.keyPem, { mode: 0o600 });
    const env = {
      DOCKER_HOST: this.outputs.dockerHost,
      DOCKER_TLS_VERIFY: "1",
      DOCKER_CERT_PATH: this.tlsDir,
    };
    const res = await run("docker", args, { env });
    if (res.code !== 0)
      throw new Error(`docker ${args.join(" ")}: exit ${res.code}: ${res.stderr}`);
    return res.stdout.trim();
  }

  /**
   * Two busybox httpd containers per entry point, through the manager: a swarm-mode service
   * labelled service=<serviceLabel>, placed on the entry point's region by engine label, one task
   * per host, each answering its host name on the private port published in host mode.
   */
  async startServices(): Promise<void> {
    for (const e of this.r.config.entryPoints as Record<string, any>[]) {
      await this.docker(
        ...this.httpdService(`${e.name}-web`, e.region, e.privatePort, [
          "--label",
          `service=${e.serviceLabel}`,
        ]),
      );
    }
  }

  /**
   * The article's regional entry point from labels alone (balancer.labels on): a swarm-mode
   * service of two busybox httpd tasks in `region`, one per host, published in host mode and
   * labelled `geoswarm.lb.port=<port>`; no API call, no `pulumi up`.
   */
  async startLabelledService(name: string, region: string, port: number): Promise<string[]> {
    const args = this.httpdService(name, region, 80, [
      // Never on the manager, whose published ports the balancer's security group may not reach.
      "--constraint",
      "node.role==worker",
      "--label",
      `geoswarm.lb.port=${port}`,
      "--label",
      "geoswarm.lb.balance=roundrobin",
    ]);
    await this.docker(...args);
    return args;
  }

  /**
   * `docker service create` arguments for two busybox httpd tasks in `region`, at most one per
   * host, each answering its host name on `port`, published in host mode; `flags` add
   * constraints and labels.
   */
  private httpdService(name: string, region: string, port: number, flags: string[]): string[] {
    return [
      "service",
      "create",
      "--detach",
      "--name",
      name,
      "--replicas",
      "2",
      "--replicas-max-per-node",
      "1",
      "--restart-delay",
      "1s",
      "--constraint",
      `engine.labels.region==${region}`,
      ...flags,
      "--publish",
      `mode=host,target=${port}`,
      "--hostname",
      "{{.Node.Hostname}}",
      this.r.tb.image,
      "sh",
      "-c",
      `hostname > /www/index.html; exec httpd -f -p ${port} -h /www`,
    ];
  }

  /** Requests from `from` to `url` until every one of `hosts` answered (bounded by `ms`). */
  async waitServesAt(
    from: Machine,
    url: string,
    hosts: string[],
    ms: number,
    what = url,
  ): Promise<number> {
    const t0 = Date.now();
    const seen = new Set<string>();
    while (Date.now() - t0 < ms) {
      const p = await get(from, url, 1);
      if (p.body) seen.add(p.body);
      if (hosts.every((h) => seen.has(h))) return Date.now() - t0;
      await sleep(50);
    }
    throw new Error(
      `${what} (${url}) did not serve ${hosts.join(" and ")} to ${from.name} within ${ms} ms (answers seen: ${[...seen].join(", ") || "none"})`,
    );
  }

  /** `<balancer>:<lbPort>` of an entry point, from the stack output. */
  entry(name: string): string {
    const at = this.outputs.entryPoints[name];
    if (!at) throw new Error(`rehearsal: no entry point ${name} in the stack outputs`);
    return at;
  }

  client(region: string): Machine {
    return this.r.tb.byName(`client-${region}`);
  }

  /** Requests from `from` to entry point `name` until every one of `hosts` answered (bounded). */
  waitServes(from: Machine, name: string, hosts: string[], ms: number): Promise<number> {
    return this.waitServesAt(from, `http://${this.entry(name)}/`, hosts, ms, `entry point ${name}`);
  }

  /** `n` answers in a row from `from` to entry point `name`. */
  async sequence(from: Machine, name: string, n: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < n; i++)
      out.push((await get(from, `http://${this.entry(name)}/`)).body || "(failed)");
    return out;
  }

  /** GET on the balancer's REST API over HTTPS with the stack's CA pinned and basic auth. */
  api(path: string): Promise<{ status: number; body: any }> {
    const o = this.outputs;
    const url = new URL(path, o.balancerApiUrl);
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          ca: o.balancerApiCaPem,
          auth: `${o.balancerApiUser}:${o.balancerApiPassword}`,
          timeout: 5000,
        },
        (res) => {
          let text = "";
          res.on("data", (d) => {
            text += d;
          });
          res.on("end", () => {
            let body: unknown = text;
            try {
              body = JSON.parse(text);
            } catch {}
            resolve({ status: res.statusCode ?? 0, body });
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`GET ${url.href}: timed out`)));
      req.on("error", reject);
      req.end();
    });
  }

  /** The provider's refusal of `name` in GET /providers, polled until it appears (bounded by `ms`). */
  async refusalOf(name: string, ms: number): Promise<Record<string, unknown>> {
    const t0 = Date.now();
    let last: unknown;
    while (Date.now() - t0 < ms) {
      const res = await this.api("/providers");
      last = res.body;
      const found = (res.body?.docker?.refusals ?? []).find(
        (x: { name?: string }) => x.name === name,
      );
      if (found) return found;
      await sleep(100);
    }
    throw new Error(
      `GET /providers named no refusal of ${name} within ${ms} ms (last: ${JSON.stringify(last).slice(0, 300)})`,
    );
  }

  /** Polls GET /ping on the API until it answers 200 (a freshly started balancer), bounded by `ms`. */
  async waitApi(ms: number): Promise<number> {
    const t0 = Date.now();
    let last = "";
    while (Date.now() - t0 < ms) {
      try {
        if ((await this.api("/ping")).status === 200) return Date.now() - t0;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(50);
    }
    throw new Error(`the balancer API did not answer /ping within ${ms} ms (last: ${last})`);
  }

  /**
   * Restarts the balancer as a reboot, a crash (Restart=always) or a new artifact would, then
   * checks that every entry point is still registered and serves both its hosts; throws naming
   * the first that is not.
   */
  async restartBalancerAndCheck(hosts: Record<string, string[]>, ms = 10_000): Promise<void> {
    await this.systemctl("balancer", "restart", "geoswarm-lb.service");
    await this.waitApi(ms);
    for (const [name, want] of Object.entries(hosts)) {
      const res = await this.api(`/servers/${name}`);
      // (gobetween answers 200 with an empty body for a server it does not have)
      if (res.status !== 200 || typeof res.body !== "object" || !res.body?.bind)
        throw new Error(
          `entry point ${name} is not registered after the balancer restarted (GET /servers/${name}: ${res.status} ${JSON.stringify(res.body).slice(0, 80)})`,
        );
      const region = (this.r.config.entryPoints as { name: string; region: string }[]).find(
        (e) => e.name === name,
      )?.region;
      await this.waitServes(this.client(region ?? ""), name, want, ms);
    }
  }

  /** `systemctl ...` on a machine, as its remote commands would run it (the rehearsal's systemd emulation). */
  async systemctl(machine: string, ...args: string[]): Promise<void> {
    const m = this.r.tb.byName(machine);
    const res = await this.r.tb.exec(m, `systemctl ${args.map(shq).join(" ")}`);
    if (res.code !== 0) throw new Error(`systemctl ${args.join(" ")} on ${machine}: ${res.stderr}`);
  }

  /**
   * A stand-in for the balancer's local Consul agent HTTP API (there is no Consul binary here):
   * answers GET /v1/health/service/consul with `nodes` as the agent would list the healthy
   * servers, on the address and port of the agent config the program rendered.
   */
  async consulAgentStandIn(balancer: Machine, nodes: string[]): Promise<{ stop(): void }> {
    const config = await this.r.tb.exec(balancer, "cat /etc/consul.d/geoswarm.json");
    const c = JSON.parse(config.stdout) as {
      addresses?: { http?: string };
      ports?: { http?: number };
    };
    const host = c.addresses?.http ?? "127.0.0.1";
    const port = c.ports?.http ?? 8500;
    const body = JSON.stringify(
      nodes.map((a) => ({ Node: { Address: a }, Service: { Service: "consul", Port: 8300 } })),
    );
    const js = `require("http").createServer((q,s)=>{const ok=q.url.startsWith("/v1/health/service/consul");s.writeHead(ok?200:404,{"content-type":"application/json"});s.end(ok?${JSON.stringify(body)}:"[]")}).listen(${port},${JSON.stringify(host)},()=>console.log("ready"))`;
    const child: ChildProcess = spawn(
      "nsenter",
      ["-t", String(balancer.holder), "-n", "--", process.execPath, "-e", js],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    await new Promise<void>((ok, fail) => {
      child.stdout?.once("data", () => ok());
      child.once("exit", (code) => fail(new Error(`consul agent stand-in exited ${code}`)));
    });
    return { stop: () => child.kill("SIGKILL") };
  }
}
