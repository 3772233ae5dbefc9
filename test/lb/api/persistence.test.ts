// API changes survive restarts, including kill -9 in the middle of a burst of writes: the real
// artifact runs as a child process, its state file on a real disk.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AUTH, call, serverBody } from "../support/api";
import { type LbProcess, startLbProcess } from "../support/lb-process";
import { closedPort, nameServer, request, type TestTcpServer, waitFor } from "../support/net";

let dir: string;
let backend: TestTcpServer;
const procs: LbProcess[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "lb-state-"));
  backend = await nameServer("b");
});
afterEach(async () => {
  for (const p of procs.splice(0)) p.kill();
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
});

async function start(
  apiPort: number,
  fileServers = "",
): Promise<{ proc: LbProcess; base: string }> {
  const path = join(dir, "lb.toml");
  writeFileSync(
    path,
    `[api]\nenabled = true\nbind = "127.0.0.1:${apiPort}"\nmax_servers = 4096\n[api.basic_auth]\nlogin = "${AUTH.login}"\npassword = "${AUTH.password}"\n[state]\npath = "${join(dir, "state", "servers.json")}"\n${fileServers}`,
  );
  const proc = await startLbProcess(["-c", path]);
  procs.push(proc);
  return { proc, base: `http://127.0.0.1:${apiPort}` };
}

describe("API state persistence", () => {
  it("keeps every acknowledged write after kill -9 during a burst of writes", async () => {
    const apiPort = await closedPort();
    const { proc, base } = await start(apiPort);
    const acknowledged = new Set<string>();
    let stop = false;
    // Four concurrent writers create servers until the process dies under them.
    const writers = [0, 1, 2, 3].map(async (w) => {
      for (let i = 0; i < 400 && !stop; i++) {
        const name = `w${w}-${i}`;
        try {
          const res = await call(
            base,
            "POST",
            `/servers/${name}`,
            serverBody("127.0.0.1:0", [`127.0.0.1:${backend.port}`]),
          );
          if (res.status === 200) acknowledged.add(name);
        } catch {
          return; // connection refused or reset: the process is gone
        }
      }
    });
    await waitFor(() => acknowledged.size >= 40, 20_000, "40 acknowledged writes");
    proc.kill("SIGKILL");
    stop = true;
    await Promise.all(writers);
    expect(await proc.exited).toBe(null);

    const { base: base2 } = await start(apiPort);
    const servers = (await call(base2, "GET", "/servers")).json as Record<string, unknown>;
    const missing = [...acknowledged].filter((name) => !(name in servers));
    expect(missing).toEqual([]);
    // No temp file or set-aside file is left behind: the state file was never torn.
    expect(readdirSync(join(dir, "state")).filter((f) => f !== "servers.json")).toEqual([]);
  }, 60_000);

  it("restores created, updated and deleted servers over the config file, and they serve", async () => {
    const apiPort = await closedPort();
    const filePort = await closedPort();
    const apiCreatedPort = await closedPort();
    const fileServers = `[servers.fromfile]\nbind = "127.0.0.1:${filePort}"\n[servers.fromfile.discovery]\nkind = "static"\nstatic_list = ["127.0.0.1:${backend.port}"]\n[servers.alsofile]\nbind = "127.0.0.1:0"\n[servers.alsofile.discovery]\nkind = "static"\nstatic_list = ["127.0.0.1:1"]\n`;
    const first = await start(apiPort, fileServers);
    expect(
      (
        await call(
          first.base,
          "POST",
          "/servers/created",
          serverBody(`127.0.0.1:${apiCreatedPort}`, [`127.0.0.1:${backend.port}`]),
        )
      ).status,
    ).toBe(200);
    expect(
      (
        await call(
          first.base,
          "PUT",
          "/servers/fromfile",
          serverBody(`127.0.0.1:${filePort}`, [`127.0.0.1:${backend.port}`], {
            balance: "leastconn",
          }),
        )
      ).status,
    ).toBe(200);
    expect((await call(first.base, "DELETE", "/servers/alsofile")).status).toBe(200);
    first.proc.kill("SIGTERM");
    expect(await first.proc.exited).toBe(0);

    const second = await start(apiPort, fileServers);
    const servers = (await call(second.base, "GET", "/servers")).json as Record<
      string,
      { balance: string }
    >;
    expect(Object.keys(servers).sort()).toEqual(["created", "fromfile"]);
    expect(servers.fromfile.balance).toBe("leastconn");
    expect((await request(apiCreatedPort)).data).toBe("b\n");
  }, 60_000);

  it("sets a corrupt state file aside, reports it, and starts from the config file", async () => {
    const apiPort = await closedPort();
    const stateDir = join(dir, "state");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(stateDir);
    writeFileSync(join(stateDir, "servers.json"), '{"version": 1, "servers": {"x": {"bind": ');
    const { proc, base } = await start(apiPort);
    expect(proc.output()).toContain("state file is corrupt");
    const asideName = readdirSync(stateDir).find((f) => f.startsWith("servers.json.corrupt-"));
    expect(asideName).toBeDefined();
    expect(readFileSync(join(stateDir, asideName!), "utf8")).toBe(
      '{"version": 1, "servers": {"x": {"bind": ',
    );
    expect(existsSync(join(stateDir, "servers.json"))).toBe(false);
    expect((await call(base, "GET", "/servers")).json).toEqual({});
  }, 30_000);
});
