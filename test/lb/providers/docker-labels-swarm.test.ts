// The docker-labels provider against a real two-node swarm (scripts/testbed: region-1 manager,
// region-2 worker): a labelled service's running tasks on every node are the backends of one
// server, scaling adds and removes them (the manager emits no task events: tasks are polled fast
// after a service event), and a service published through the ingress mesh is refused, naming
// the label.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfigText, validateConfig } from "../../../lb/src/config";
import { silentLogger } from "../../../lb/src/log/logger";
import { type RunningLb, runLb } from "../../../lb/src/run";
import { httpdService, runningTasks } from "../../support/docker/swarm";
import { requireDocker, startTestbed, type Testbed } from "../../support/docker/testbed";
import { request, waitFor } from "../support/net";

const canRun = requireDocker("test/lb/providers/docker-labels-swarm.test.ts");
let tb: Testbed;
let lb: RunningLb;
// Below the ephemeral range (32768+), where a client socket could hold one.
const PORT = 15000 + Math.floor(Math.random() * 400) * 10;

beforeAll(async () => {
  if (!canRun) return;
  tb = await startTestbed({ regions: 2, swarm: true });
  const { config } = validateConfig(
    parseConfigText(
      `
[providers.docker]
endpoint = "${tb.managerHost}"
listen_host = "127.0.0.1"
port_range = "${PORT}-${PORT + 9}"
drain_grace = "1s"
`,
      "toml",
      { envSubst: false },
    ),
  );
  lb = await runLb(config, silentLogger());
}, 120_000);

afterAll(async () => {
  await lb?.stop(0);
  await tb?.down();
}, 120_000);

const name = `docker-labels-${PORT}`;

function backends(): string[] {
  return (lb.balancer.servers.get(name)?.table.backends ?? [])
    .filter((b) => b.discovered)
    .map((b) => b.key)
    .sort();
}

/** Global mode with a constraint is awkward to scale; a replicated service per region is not. */
function service(
  svc: string,
  region: number,
  publish: string,
  port: number,
  replicas = 0,
): string[] {
  return httpdService(
    tb.image,
    svc,
    region,
    publish,
    "-l",
    `geoswarm.lb.port=${port}`,
    "-l",
    "geoswarm.lb.balance=roundrobin",
    "--replicas",
    String(replicas),
  );
}

/** Polls until `pred` or `ms`; resolves with the ms it took. */
async function until(pred: () => boolean, ms: number, what: string): Promise<number> {
  return waitFor(pred, ms, what, 5);
}

describe.skipIf(!canRun)("docker-labels provider in swarm mode (real 2-node swarm)", () => {
  it("a labelled service's tasks on every node are one server's backends; scaling adds and removes them", async () => {
    const [r1, r2] = tb.regions;
    await tb.docker(1, ...service("web-r1", 1, "mode=host,target=80,published=24001", PORT));
    await tb.docker(1, ...service("web-r2", 2, "mode=host,target=80,published=24002", PORT));
    await tb.docker(1, ...service("meshed", 2, "target=80,published=24003", PORT + 1, 1));

    // Scale up: a task on the worker (no events reach the manager's stream for it).
    const pickups: Record<string, number> = {};
    await tb.docker(1, "service", "scale", "--detach", "web-r2=1");
    // From the task's own "running" time as the manager records it to the backend being added.
    await until(() => backends().includes(`${r2.ip}:24002`), 15_000, "web-r2's task");
    const added = Date.now();
    const taskRunning = await runningSince("web-r2");
    pickups["worker task running → backend"] = added - taskRunning;
    await tb.docker(1, "service", "scale", "--detach", "web-r1=1");
    await until(() => backends().length === 2, 15_000, "web-r1's task");
    pickups["manager task running → backend"] = Date.now() - (await runningSince("web-r1"));
    expect(backends()).toEqual([`${r1.ip}:24001`, `${r2.ip}:24002`]);

    const seen = new Set<string>();
    for (let i = 0; i < 8 && seen.size < 2; i++) {
      const r = await request(PORT, "GET /index.html HTTP/1.0\r\n\r\n", { timeoutMs: 2000 });
      seen.add(r.data.split("\r\n\r\n")[1]?.trim() ?? "");
    }
    expect([...seen].sort()).toEqual(["web-r1", "web-r2"]);

    // The ingress-published service is refused, naming the label.
    const refusals = () => lb.labels?.status().refusals ?? [];
    await until(() => refusals().length > 0, 15_000, "meshed's refusal");
    expect(refusals().map((r) => `${r.source} ${r.name} ${r.label}`)).toEqual([
      "service meshed geoswarm.lb.target",
    ]);
    expect(refusals()[0].problem).toMatch(/published in host mode/);

    // Scale down: the worker's task goes, then the server drains and closes with the last one.
    const t0 = Date.now();
    await tb.docker(1, "service", "scale", "--detach", "web-r2=0");
    await until(() => !backends().includes(`${r2.ip}:24002`), 10_000, "web-r2's task removed");
    pickups["scale web-r2=0 returned → backend removed"] = Date.now() - t0;
    expect(backends()).toEqual([`${r1.ip}:24001`]);
    await tb.docker(1, "service", "rm", "web-r1", "web-r2", "meshed");
    await until(() => !lb.balancer.servers.has(name), 10_000, "the server closed");
    process.stdout.write(
      `docker-labels swarm pickup: ${Object.entries(pickups)
        .map(([k, v]) => `${k} ${v} ms`)
        .join("; ")}\n`,
    );
  }, 90_000);
});

/** When the service's running task reached "running", as the manager recorded it (ms). */
async function runningSince(svc: string): Promise<number> {
  const [id] = await runningTasks((...args) => tb.docker(1, ...args), svc, "{{.ID}}");
  const ts = await tb.docker(1, "inspect", "--format", "{{.Status.Timestamp}}", id);
  return Date.parse(ts);
}
