// Runs the shipped artifact lb/dist/geoswarm-lb.cjs (built by test/global-setup.ts) as a child
// process with plain node, from a folder without node_modules.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ARTIFACT, startLbProcess } from "./support/lb-process";
import {
  closedPort,
  nameServer,
  request,
  sleep,
  type TestTcpServer,
  tcpServer,
  waitFor,
} from "./support/net";

let dir: string;
let bin: string;

beforeAll(() => {
  // A folder with no node_modules anywhere above it: the artifact must be self-contained.
  dir = mkdtempSync(join(tmpdir(), "geoswarm-lb-"));
  bin = join(dir, "geoswarm-lb.cjs");
  copyFileSync(ARTIFACT, bin);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const children: ChildProcess[] = [];
const servers: TestTcpServer[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
  for (const s of servers.splice(0)) await s.close();
});

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { cwd: dir, timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolvePromise({ code: typeof code === "number" ? code : 1, stdout, stderr });
      },
    );
  });
}

function writeConfig(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("geoswarm-lb artifact", () => {
  it("is one file that runs without node_modules: --version and --help", async () => {
    const pkg = JSON.parse(readFileSync(resolve(__dirname, "../../package.json"), "utf8"));
    const version = await run(["--version"]);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe(`geoswarm-lb ${pkg.version}`);
    const help = await run(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--check");
  });

  it("--check prints a summary and exits 0 for a valid config, without binding", async () => {
    const port = await closedPort();
    const path = writeConfig(
      "ok.toml",
      `[servers.web]\nbind = "127.0.0.1:${port}"\nbalance = "iphash1"\n[servers.web.discovery]\nkind = "static"\nstatic_list = ["127.0.0.1:1 weight=3", "127.0.0.1:2"]\n`,
    );
    const res = await run(["-c", path, "--check"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain("web");
    expect(res.stdout).toContain("iphash1");
    // Nothing was bound: the port is still free.
    const probe = net.createServer();
    await new Promise<void>((r, j) => probe.once("error", j).listen(port, "127.0.0.1", () => r()));
    probe.close();
  });

  it("--check exits 2 naming the key path, the value and what is allowed", async () => {
    const path = writeConfig(
      "bad.toml",
      `[servers.consul]\nbind = "127.0.0.1:8500"\nbalance = "fastest"\n[servers.consul.discovery]\nkind = "static"\nstatic_list = ["127.0.0.1:1"]\n`,
    );
    const res = await run(["-c", path, "--check"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("servers.consul.balance");
    expect(res.stderr).toContain('"fastest"');
    expect(res.stderr).toContain('"iphash1"');
  });

  it("a bad config starts nothing and exits 2", async () => {
    const port = await closedPort();
    const path = writeConfig(
      "bad-run.toml",
      `[servers.a]\nbind = "127.0.0.1:${port}"\n[servers.a.discovery]\nkind = "static"\nstatic_list = ["127.0.0.1:1"]\n[servers.b]\nbind = "127.0.0.1:1"\nclient_idle_timeout = "ten"\n[servers.b.discovery]\nkind = "static"\nstatic_list = ["127.0.0.1:1"]\n`,
    );
    const res = await run(["-c", path]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("servers.b.client_idle_timeout");
  });

  it("substitutes environment variables with -e and serves traffic; SIGTERM drains live connections, then exits 0", async () => {
    const backend = await tcpServer((socket) => {
      // Answers slowly: the reply comes 600 ms after the request, i.e. after SIGTERM.
      socket.on("data", () => setTimeout(() => socket.end("slow reply"), 600));
    });
    servers.push(backend);
    const other = await nameServer("unused");
    servers.push(other);
    const port = await closedPort();
    const path = writeConfig(
      "run.toml",
      `[logging]\nlevel = "info"\nformat = "json"\n[shutdown]\ngrace_period = "5s"\n[servers.web]\nbind = "127.0.0.1:\${LB_PORT}"\n[servers.web.discovery]\nkind = "static"\nstatic_list = ["127.0.0.1:\${BACKEND_PORT}"]\n`,
    );
    const lb = await startLbProcess(["-e", "-c", path], {
      artifact: bin,
      cwd: dir,
      env: { LB_PORT: String(port), BACKEND_PORT: String(backend.port) },
    });
    const child = lb.child;
    children.push(child);
    const line = lb
      .output()
      .split("\n")
      .find((l) => l.includes("geoswarm-lb started"))!;
    expect(JSON.parse(line)).toMatchObject({ level: 30, msg: "geoswarm-lb started" });

    const inFlight = request(port, "question", { timeoutMs: 8000 });
    await waitFor(() => backend.connections.length === 1, 3000, "connection at the backend");
    child.kill("SIGTERM");
    await sleep(200);
    // No longer accepting.
    const late = await request(port, "late", { timeoutMs: 2000 });
    expect(late.error).toMatch(/ECONNREFUSED/);
    // The connection that was live finishes normally.
    expect((await inFlight).data).toBe("slow reply");
    expect(await lb.exited).toBe(0);
    expect(lb.output()).toContain("shutdown complete");
  });

  it("after the grace period, SIGTERM closes the connections that remain and exits 0", async () => {
    const holder = await tcpServer(() => {});
    servers.push(holder);
    const port = await closedPort();
    const path = writeConfig(
      "grace.toml",
      `[shutdown]\ngrace_period = "300ms"\n[servers.web]\nbind = "127.0.0.1:${port}"\n[servers.web.discovery]\nkind = "static"\nstatic_list = ["127.0.0.1:${holder.port}"]\n`,
    );
    const child = spawn(process.execPath, [bin, "-c", path], { cwd: dir, stdio: "ignore" });
    children.push(child);
    let connected = false;
    for (let i = 0; i < 100 && !connected; i++) {
      connected = await new Promise<boolean>((r) => {
        const s = net.connect(port, "127.0.0.1");
        s.on("connect", () => {
          s.on("error", () => {});
          r(true);
        });
        s.on("error", () => r(false));
      });
      if (!connected) await sleep(50);
    }
    expect(connected).toBe(true);
    await waitFor(() => holder.connections.length === 1, 3000, "held connection");
    const started = Date.now();
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });
});
