// Reload (SIGHUP and POST /reload) and PUT while 100 connections stream through the balancer:
// none may break. Runs the real artifact as a child process.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUTH, call, serverBody } from "../support/api";
import { type LbProcess, startLbProcess } from "../support/lb-process";
import {
  closedPort,
  nameServer,
  request,
  sleep,
  type TestTcpServer,
  tcpServer,
  waitFor,
} from "../support/net";

const STREAMS = 100;
let dir: string;
let echo: TestTcpServer;
let other: TestTcpServer;
let proc: LbProcess;
let base: string;
let webPort: number;
let configPath: string;

function configText(extraServers: string, balance = "roundrobin"): string {
  return `[api]
enabled = true
bind = "127.0.0.1:${new URL(base).port}"
[api.basic_auth]
login = "${AUTH.login}"
password = "${AUTH.password}"
[servers.web]
bind = "127.0.0.1:${webPort}"
balance = "${balance}"
[servers.web.discovery]
kind = "static"
static_list = ["127.0.0.1:${echo.port}"]
${extraServers}`;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "lb-reload-"));
  echo = await tcpServer((s) => s.on("data", (c) => s.write(c)));
  other = await nameServer("other");
  base = `http://127.0.0.1:${await closedPort()}`;
  webPort = await closedPort();
  configPath = join(dir, "lb.toml");
  writeFileSync(configPath, configText(""));
  proc = await startLbProcess(["-c", configPath]);
});
afterAll(async () => {
  proc?.kill();
  await echo.close();
  await other.close();
  rmSync(dir, { recursive: true, force: true });
});

/** 100 connections that each send a numbered message every 20 ms and check every echo. */
function startStreams(): { stop(): Promise<{ broken: number; echoed: number }> } {
  let running = true;
  let broken = 0;
  let echoed = 0;
  const done = Array.from(
    { length: STREAMS },
    (_, i) =>
      new Promise<void>((resolve) => {
        const socket = net.connect(webPort, "127.0.0.1");
        let expected = "";
        let got = "";
        let seq = 0;
        let timer: NodeJS.Timeout | undefined;
        const fail = (): void => {
          broken++;
          if (timer) clearInterval(timer);
          resolve();
        };
        socket.on("error", fail);
        socket.on("close", () => {
          if (running) fail();
        });
        socket.on("data", (c) => {
          got += c;
          if (got === expected) echoed++;
        });
        socket.on("connect", () => {
          timer = setInterval(() => {
            if (!running) {
              clearInterval(timer);
              const final = got === expected;
              socket.removeAllListeners("close");
              socket.destroy();
              if (!final) broken++;
              resolve();
              return;
            }
            const msg = `${i}:${seq++};`;
            expected += msg;
            socket.write(msg);
          }, 20);
        });
      }),
  );
  return {
    async stop() {
      await sleep(200); // let the last echoes arrive
      running = false;
      await Promise.all(done);
      return { broken, echoed };
    },
  };
}

describe("reload and update under load", () => {
  it("SIGHUP, POST /reload and PUT break none of 100 streaming connections", async () => {
    const streams = startStreams();
    await sleep(300);

    // 1. SIGHUP with a new server in the file and a changed strategy for web.
    const addedPort = await closedPort();
    writeFileSync(
      configPath,
      configText(
        `[servers.added]\nbind = "127.0.0.1:${addedPort}"\n[servers.added.discovery]\nkind = "static"\nstatic_list = ["127.0.0.1:${other.port}"]\n`,
        "leastconn",
      ),
    );
    proc.child.kill("SIGHUP");
    await waitFor(() => proc.output().includes("configuration reloaded"), 5000, "SIGHUP reload");
    expect((await request(addedPort)).data).toBe("other\n");

    // 2. POST /reload with the server removed again and web back to roundrobin.
    writeFileSync(configPath, configText(""));
    const reload = await call(base, "POST", "/reload");
    expect(reload.status).toBe(200);
    expect(reload.json).toEqual({ added: [], updated: ["web"], removed: ["added"], unchanged: [] });

    // 3. PUT on the streaming server: another backend joins, the echo backend stays.
    const put = await call(
      base,
      "PUT",
      "/servers/web",
      serverBody(`127.0.0.1:${webPort}`, [`127.0.0.1:${echo.port}`, `127.0.0.1:${other.port}`], {
        balance: "leastconn",
      }),
    );
    expect(put.status).toBe(200);

    // 4. A reload with a broken file is refused and changes nothing.
    writeFileSync(
      configPath,
      configText("").replace('balance = "roundrobin"', 'balance = "fastest"'),
    );
    const bad = await call(base, "POST", "/reload");
    expect(bad.status).toBe(400);
    expect((bad.json as { problems: string[] }).problems[0]).toMatch(
      /^servers\.web\.balance: expected one of/,
    );

    await sleep(300);
    const { broken, echoed } = await streams.stop();
    expect(broken).toBe(0);
    expect(echoed).toBeGreaterThan(STREAMS * 5);
  }, 60_000);
});
