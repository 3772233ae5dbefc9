// docker discovery against a real two-node swarm (scripts/testbed: two dockerd, each in its own
// network namespace, region-1 manager, region-2 worker): the running tasks of labelled services
// become backends at their node's address and host-mode published port, and a real balancer
// routes to them; scaling down removes them. Plain labelled containers on the manager are
// discovered alongside; tasks published through the ingress mesh have no per-task port and are
// skipped.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpdService } from "../../support/docker/swarm";
import { requireDocker, startTestbed, type Testbed } from "../../support/docker/testbed";
import { type RunningBalancer, startBalancer } from "../support/balancer";
import { request } from "../support/net";
import { waitFor } from "./support/helpers";

const canRun = requireDocker("test/lb/discovery/docker-swarm.test.ts");
let tb: Testbed;
let lb: RunningBalancer;

beforeAll(async () => {
  if (!canRun) return;
  tb = await startTestbed({ regions: 2, swarm: true });
  lb = await startBalancer(`
[servers.web]
bind = "127.0.0.1:0"
balance = "roundrobin"
[servers.web.discovery]
kind = "docker"
docker_endpoint = "${tb.managerHost}"
docker_container_label = "service=web"
docker_container_private_port = 80
interval = "1m"
`);
}, 120_000);

afterAll(async () => {
  await lb?.stop();
  await tb?.down();
}, 120_000);

function discovered(): string[] {
  return lb
    .server("web")
    .table.backends.filter((b) => b.discovered)
    .map((b) => b.key)
    .sort();
}

const serve = (name: string) => [
  "sh",
  "-c",
  `echo ${name} > /www/index.html; exec httpd -f -p 80 -h /www`,
];

const service = (name: string, region: number, publish: string, ...flags: string[]) =>
  httpdService(tb.image, name, region, publish, ...flags);

describe.skipIf(!canRun)("docker discovery in swarm mode (real 2-node swarm)", () => {
  it("discovers labelled services' tasks on every node and follows scaling", async () => {
    const [r1, r2] = tb.regions;
    const t0 = Date.now();
    await tb.docker(
      1,
      ...service("web-r2", 2, "mode=host,target=80,published=22011", "-l", "service=web"),
    );
    await tb.docker(
      1,
      ...service(
        "web-r1",
        1,
        "mode=host,target=80,published=22012",
        "--container-label",
        "service=web",
      ),
    );
    await tb.docker(
      1,
      ...service("other", 2, "mode=host,target=80,published=22013", "-l", "service=other"),
    );
    await tb.docker(1, ...service("meshed", 2, "target=80,published=22014", "-l", "service=web"));
    await tb.docker(
      1,
      "run",
      "-d",
      "--name",
      "plain",
      "-l",
      "service=web",
      "-p",
      "22015:80",
      tb.image,
      ...serve("plain"),
    );

    const want = [`${r1.ip}:22012`, `${r1.ip}:22015`, `${r2.ip}:22011`];
    await waitFor(() => discovered().join() === want.join(), `backends ${want.join(", ")}`, 15_000);
    const createdToDiscovered = Date.now() - t0;

    // every backend answers through the balancer (roundrobin over the three)
    const seen = new Set<string>();
    for (let i = 0; i < 12 && seen.size < 3; i++) {
      const r = await request(lb.port("web"), "GET /index.html HTTP/1.0\r\n\r\n", {
        timeoutMs: 2000,
      });
      seen.add(r.data.split("\r\n\r\n")[1]?.trim() ?? "");
    }
    expect([...seen].sort()).toEqual(["plain", "web-r1", "web-r2"]);

    await tb.docker(1, "service", "scale", "--detach", "web-r2=0");
    const removal = await waitFor(
      () => !discovered().includes(`${r2.ip}:22011`),
      "web-r2 task removed",
      5000,
    );
    expect(discovered()).toEqual([`${r1.ip}:22012`, `${r1.ip}:22015`]);
    // Task changes on other nodes are polled (1 s); 3 s is a generous bound.
    expect(removal).toBeLessThan(3000);
    expect(createdToDiscovered).toBeLessThan(15_000);

    await tb.docker(1, "service", "rm", "web-r1", "web-r2", "other", "meshed");
    await tb.docker(1, "rm", "-f", "plain");
    await waitFor(() => discovered().length === 0, "all removed", 5000);
  });
});
