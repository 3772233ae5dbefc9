// The dashboard in real headless Chromium (Debian's chromium, driven by playwright-core), behind
// the API's basic auth, refreshing live as traffic and healthchecks change. Saves a screenshot
// to test/artifacts/dashboard.png.
import { existsSync, mkdirSync } from "node:fs";
import net from "node:net";
import { resolve } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUTH, startWithApi } from "../support/api";
import { nameServer, refusingPort, type TestTcpServer, tcpServer } from "../support/net";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = resolve(__dirname, "../../artifacts");

let lb: Awaited<ReturnType<typeof startWithApi>>;
let browser: Browser;
let a: TestTcpServer;
let slow: TestTcpServer;
let refusing: Awaited<ReturnType<typeof refusingPort>>;
let dead: number;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} not found: run scripts/setup.sh (installs Debian's chromium)`);
  a = await nameServer("a");
  slow = await tcpServer(() => {}, { allowHalfOpen: false });
  refusing = await refusingPort();
  dead = refusing.port;
  lb = await startWithApi(`
[servers.web]
bind = "127.0.0.1:0"
[servers.web.discovery]
kind = "static"
static_list = ["127.0.0.1:${a.port}", "127.0.0.1:${dead}"]
[servers.web.healthcheck]
kind = "ping"
interval = "200ms"
timeout = "200ms"
[servers.held]
bind = "127.0.0.1:0"
[servers.held.discovery]
kind = "static"
static_list = ["127.0.0.1:${slow.port}"]
`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});
afterAll(async () => {
  refusing?.close();
  await browser?.close();
  await lb?.stop(0);
  await a?.close();
  await slow?.close();
});

describe("dashboard", () => {
  it("is refused without credentials", async () => {
    const page = await browser.newPage();
    // Headless Chromium turns the 401 challenge it cannot answer into a navigation error.
    const outcome = await page.goto(`${lb.base}/dashboard`).then(
      (res) => `status ${res?.status()}`,
      (err: Error) => err.message,
    );
    expect(outcome).toMatch(/status 401|ERR_INVALID_AUTH_CREDENTIALS/);
    await page.close();
  });

  it("shows every server, live/dead backends and active connections, refreshing live", async () => {
    const context = await browser.newContext({
      httpCredentials: { username: AUTH.login, password: AUTH.password },
    });
    const page = await context.newPage();
    const failed: string[] = [];
    page.on("response", (res) => {
      if (res.status() >= 400) failed.push(`${res.status()} ${res.url()}`);
    });
    await page.goto(`${lb.base}/dashboard`);
    await page.waitForSelector('section[data-server="web"]');
    await page.waitForSelector('section[data-server="held"]');
    // The closed port fails its ping: the page shows it dead, the other live.
    await page.waitForSelector(`tr[data-backend="127.0.0.1:${dead}"] td.dead`, { timeout: 5000 });
    await page.waitForSelector(`tr[data-backend="127.0.0.1:${a.port}"] td.live`);
    // Open 3 connections through "held": the page's counter follows without a reload.
    const heldPort = Number(lb.balancer.servers.get("held")!.boundAddress().split(":")[1]);
    const sockets = [0, 1, 2].map(() => net.connect(heldPort, "127.0.0.1").on("error", () => {}));
    const heldActive = (n: number): string =>
      `document.querySelector('section[data-server="held"] .active')?.textContent === "${n}"`;
    await page.waitForFunction(heldActive(3), undefined, { timeout: 6000 });
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: resolve(ARTIFACTS, "dashboard.png"), fullPage: true });
    expect(existsSync(resolve(ARTIFACTS, "dashboard.png"))).toBe(true);
    for (const s of sockets) s.destroy();
    await page.waitForFunction(heldActive(0), undefined, { timeout: 6000 });
    // A disabled backend shows as disabled, not live; enabled again, live again.
    const live = `127.0.0.1:${a.port}`;
    const post = (action: string) =>
      fetch(`${lb.base}/servers/web/backends/${live}/${action}`, {
        method: "POST",
        headers: { authorization: `Basic ${btoa(`${AUTH.login}:${AUTH.password}`)}` },
      });
    expect((await post("disable")).status).toBe(200);
    const stats = await fetch(`${lb.base}/servers/web/stats`, {
      headers: { authorization: `Basic ${btoa(`${AUTH.login}:${AUTH.password}`)}` },
    }).then(
      (r) => r.json() as Promise<{ backends: { host: string; port: string; stats: object }[] }>,
    );
    const row = stats.backends.find((b) => `${b.host}:${b.port}` === live);
    expect(row?.stats).toMatchObject({ live: true, enabled: false });
    await page.waitForSelector(`tr[data-backend="${live}"] td.disabled`, { timeout: 6000 });
    expect(await page.textContent(`tr[data-backend="${live}"] td.disabled`)).toBe(
      "disabled (live)",
    );
    expect((await post("enable")).status).toBe(200);
    await page.waitForSelector(`tr[data-backend="${live}"] td.live`, { timeout: 6000 });
    // No request of the page failed (a missing favicon.ico was one).
    expect(failed).toEqual([]);
    await context.close();
  }, 30_000);
});
