// A backend that fails its healthcheck leaves rotation and comes back after `passes` passes:
// real backends, real ping checks, real client connections through the balancer.
import { afterEach, describe, expect, it } from "vitest";
import { type RunningBalancer, startBalancer } from "../support/balancer";
import { nameServer, request, type TestTcpServer, waitFor } from "../support/net";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function served(lb: RunningBalancer, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await request(lb.port("web"))).data.trim());
  return out;
}

describe("healthchecks drive rotation", () => {
  it("removes a backend after `fails` failed pings and restores it after `passes`", async () => {
    const a = await nameServer("a");
    let b: TestTcpServer = await nameServer("b");
    const bPort = b.port;
    cleanups.push(() => a.close());
    cleanups.push(() => b.close());
    const lb = await startBalancer(`
[servers.web]
bind = "127.0.0.1:0"
balance = "roundrobin"
[servers.web.discovery]
kind = "static"
static_list = ["127.0.0.1:${a.port}", "127.0.0.1:${bPort}"]
[servers.web.healthcheck]
kind = "ping"
interval = "100ms"
timeout = "200ms"
fails = 2
passes = 3
`);
    cleanups.push(() => lb.stop(0));
    expect(new Set(await served(lb, 4))).toEqual(new Set(["a", "b"]));

    await b.close();
    const backendB = () => lb.server("web").table.get(`127.0.0.1:${bPort}`)!;
    await waitFor(() => !backendB().live, 3000, "b marked down");
    expect(new Set(await served(lb, 6))).toEqual(new Set(["a"]));

    // b listens again on the same port; it returns only after 3 consecutive passes.
    b = await nameServer("b", bPort);
    const backAt = Date.now();
    await waitFor(() => backendB().live, 3000, "b back in rotation");
    expect(Date.now() - backAt).toBeGreaterThanOrEqual(150); // not on the first pass
    expect(new Set(await served(lb, 4))).toEqual(new Set(["a", "b"]));
  });

  it("initial_status = unhealthy keeps a new backend out until it passes", async () => {
    const a = await nameServer("a");
    cleanups.push(() => a.close());
    const lb = await startBalancer(`
[servers.web]
bind = "127.0.0.1:0"
[servers.web.discovery]
kind = "static"
static_list = ["127.0.0.1:${a.port}"]
[servers.web.healthcheck]
kind = "ping"
interval = "200ms"
timeout = "200ms"
passes = 1
initial_status = "unhealthy"
`);
    cleanups.push(() => lb.stop(0));
    const backend = lb.server("web").table.get(`127.0.0.1:${a.port}`)!;
    // Discovery and the first check race; whichever comes first, the backend ends up live.
    await waitFor(() => backend.live, 3000, "backend to pass its first check");
    expect((await request(lb.port("web"))).data).toBe("a\n");
  });
});
