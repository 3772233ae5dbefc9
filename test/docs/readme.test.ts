// The README's balancer quick start and UDP walkthrough, run as written (each line of the blocks
// through bash, from the repository root), and every example config checked with the command
// its header gives. `scripts/setup.sh` and `npm run build:lb` are the lines this test skips: the
// test runs after the first, and vitest's global setup ran the second.
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import http from "node:http";
import { parse as parseToml } from "smol-toml";
import { afterAll, describe, expect, it } from "vitest";
import { blocksUnder, ROOT, readDoc } from "./support/markdown";

const README = readDoc("README.md");
const background: ChildProcess[] = [];

afterAll(async () => {
  for (const child of background) {
    try {
      process.kill(-(child.pid as number), "SIGKILL"); // its whole group: npm, sh, node
    } catch {}
  }
});

/** Runs one README line in bash; a line ending in `&` (before its comment) runs in background. */
function runLine(line: string): { status: number | null; out: string; child?: ChildProcess } {
  const code = line.replace(/\s+#[^'"]*$/, "").trim();
  if (code.endsWith("&")) return startBackground(code.slice(0, -1));
  const r = spawnSync("bash", ["-c", line], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

function startBackground(code: string): { status: null; out: string; child: ChildProcess } {
  const child = spawn("bash", ["-c", `exec ${code}`], {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const result = { status: null, out: "", child };
  child.stdout?.on("data", (d) => (result.out += d));
  child.stderr?.on("data", (d) => (result.out += d));
  background.push(child);
  return result;
}

async function waitFor(what: string, ok: () => Promise<boolean> | boolean, ms = 20_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** One HTTP GET on a new connection (the balancer elects a backend per connection). */
function get(url: string): Promise<number> {
  return new Promise((resolve) => {
    http
      .get(url, { agent: false }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      })
      .on("error", () => resolve(0));
  });
}

const isRoot = process.getuid?.() === 0;
const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;

describe("README: Run the balancer locally", () => {
  const [steps, client] = blocksUnder(README, "Run the balancer locally");

  it("runs as written: --check, two backends, the balancer, then the client lines", async () => {
    expect(steps[0]).toMatch(/^scripts\/setup\.sh\s/);
    expect(steps[1]).toMatch(/^npm run build:lb\s/);
    const started: ReturnType<typeof runLine>[] = [];
    for (const line of steps.slice(2)) {
      if (/--check/.test(line)) {
        const r = runLine(line);
        expect(r.out).toContain("configuration OK");
        expect(r.status).toBe(0);
      } else if (/^npm run lb\b/.test(line)) {
        started.push(startBackground(line.replace(/\s+#.*$/, "")));
      } else {
        started.push(runLine(line));
      }
    }
    const [b1, b2, lb] = started;
    await waitFor(
      "the balancer on 127.0.0.1:3000",
      async () => (await get("http://127.0.0.1:3000/")) === 200,
    );

    for (const line of client) {
      const r = runLine(line);
      expect(r.status, `${line}\n${r.out}`).toBe(0);
      if (/3000/.test(line)) expect(r.out.trim()).toBe("ok");
      if (/stats/.test(line)) expect(JSON.parse(r.out)).toHaveProperty("backends");
    }
    // Both backends serve, 8001 (weight 2) more than 8002 (weight 1).
    for (let i = 0; i < 90; i++) expect(await get("http://127.0.0.1:3000/")).toBe(200);
    const served = (r: { out: string }) => (r.out.match(/"GET \/ HTTP\/1\.1" 200/g) ?? []).length;
    await waitFor("the backends' request logs", () => served(b1) + served(b2) >= 91);
    expect(served(b2)).toBeGreaterThan(0);
    expect(served(b1)).toBeGreaterThan(served(b2));
    expect(lb.out).toContain("geoswarm-lb started");
  });
});

describe.skipIf(!process.env.CI && !(isRoot && has("dnsmasq") && has("dig")))(
  "README: UDP walkthrough",
  () => {
    it("alternates between the two dnsmasq backends", async () => {
      const [steps] = blocksUnder(README, "UDP walkthrough");
      let last: ReturnType<typeof runLine> | undefined;
      for (const line of steps) {
        const r = runLine(line);
        if (r.child) await new Promise((res) => setTimeout(res, 200));
        last = r;
      }
      expect(last?.status).toBe(0);
      const answers = (last?.out ?? "").trim().split("\n");
      expect(answers).toHaveLength(4);
      expect(new Set(answers)).toEqual(new Set(["10.0.0.1", "10.0.0.2"]));
      for (let i = 1; i < answers.length; i++) expect(answers[i]).not.toBe(answers[i - 1]);
    });
  },
);

describe("lb/examples", () => {
  const files = readdirSync(`${ROOT}/lb/examples`);

  it.each(files.filter((f) => f.endsWith(".toml")))(
    "%s passes the check its header gives",
    (file) => {
      const text = readDoc(`lb/examples/${file}`);
      const cmd = /^# Check it with:\s+(.+)$/m.exec(text)?.[1];
      expect(cmd).toBe(`npm run lb -- --check -c lb/examples/${file}`);
      const r = runLine(cmd as string);
      expect(r.out).toContain("configuration OK");
      expect(r.status).toBe(0);
    },
  );

  it("basic.json is basic.toml as JSON, and passes --check with -f json", () => {
    expect(files).toContain("basic.json");
    const json = JSON.parse(readDoc("lb/examples/basic.json"));
    expect(json).toEqual(parseToml(readDoc("lb/examples/basic.toml")));
    const out = execFileSync(
      "bash",
      ["-c", "npm run lb -- --check -f json -c lb/examples/basic.json"],
      { cwd: ROOT, encoding: "utf8" },
    );
    expect(out).toContain("configuration OK");
  });

  it("every example is covered above", () => {
    expect(files.filter((f) => !f.endsWith(".toml") && f !== "basic.json")).toEqual([]);
  });
});
