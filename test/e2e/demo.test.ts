// `npm run demo` (scripts/demo.sh: the rehearsal, scripts/rehearsal) end to end, as a user runs
// it: `npm run demo -- --once` (CI) prints the firewall table, shows region-1's entry point
// alternating between r1-host-1 and r1-host-2 from region 1's client namespace, and exits 0;
// interactively, Ctrl-C (SIGINT to the whole process group, as a terminal sends it) tears
// everything down and exits 0.
// Each run gets its own DEMO_DIR, namespace prefix and subnet, and afterwards nothing of it may
// be left: namespaces, bridge, iptables rule, mounts, processes, files.
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { requireDocker } from "../support/docker/testbed";
import { fromNamespace, until } from "./support/cluster";

const canRun = requireDocker("test/e2e/demo.test.ts");
const ROOT = resolve(__dirname, "../..");
const DEMO = join(ROOT, "scripts/demo.sh");

interface DemoEnv {
  DEMO_DIR: string;
  TESTBED_PREFIX: string;
  TESTBED_NET: string;
}

function demoEnv(): DemoEnv {
  const routed = (net: string) =>
    execFileSync("ip", ["-4", "route", "show", `${net}.0/24`], { encoding: "utf8" }).trim() !== "";
  let net = "";
  for (let i = 0; i < 50 && net === ""; i++) {
    const candidate = `10.${202 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
    if (!routed(candidate)) net = candidate;
  }
  if (net === "") throw new Error("no free 10.x.y.0/24 subnet for the demo");
  const prefix = `d${Math.random()
    .toString(36)
    .slice(2, 6)
    .replace(/[^a-z0-9]/g, "0")}`;
  // DEMO_DIR itself must not exist yet: the demo removes it at the end.
  const parent = mkdtempSync(join(tmpdir(), "geoswarm-demo-test-"));
  return { DEMO_DIR: join(parent, "demo"), TESTBED_PREFIX: prefix, TESTBED_NET: net };
}

/** Everything of this demo run still present on the host (empty = clean). */
function leftovers(env: DemoEnv): string[] {
  const left: string[] = [];
  const sh = (cmd: string) => execFileSync("sh", ["-c", cmd], { encoding: "utf8" });
  const ns = sh("ip netns list")
    .split("\n")
    .filter((l) => l.startsWith(`${env.TESTBED_PREFIX}-`));
  left.push(...ns.map((n) => `netns ${n}`));
  const links = sh("ip -o link show")
    .split("\n")
    .filter((l) => l.includes(`${env.TESTBED_PREFIX}-`));
  left.push(...links.map((l) => `link ${l.split(":")[1]?.trim()}`));
  if (sh("iptables -S FORWARD").includes(`testbed:${env.TESTBED_PREFIX}-br0`))
    left.push("iptables rule");
  if (readFileSync("/proc/self/mountinfo", "utf8").includes(env.DEMO_DIR)) left.push("mounts");
  if (existsSync(env.DEMO_DIR)) left.push(`dir ${env.DEMO_DIR}`);
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    let cmd = "";
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
    } catch {}
    if (cmd.includes(env.DEMO_DIR)) left.push(`process ${pid}: ${cmd.slice(0, 120)}`);
  }
  return left;
}

/** Last resort after a failed test: the testbed's own down.sh for this run's prefix. */
function forceDown(env: DemoEnv): void {
  execFileSync(join(ROOT, "scripts/testbed/down.sh"), [], {
    env: {
      ...process.env,
      TESTBED_PREFIX: env.TESTBED_PREFIX,
      TESTBED_DIR: join(env.DEMO_DIR, "testbed"),
    },
    stdio: "ignore",
  });
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((r) =>
    child.exitCode !== null ? r(child.exitCode) : child.on("exit", (code) => r(code)),
  );
}

const envs: DemoEnv[] = [];
afterEach(() => {
  for (const env of envs.splice(0)) {
    if (leftovers(env).length > 0) forceDown(env);
    rmSync(resolve(env.DEMO_DIR, ".."), { recursive: true, force: true });
  }
}, 120_000);

/** Runs the demo non-interactively with `args` (a fresh env, cleaned up after the test); it must exit 0. */
async function demoOnce(args: string[]): Promise<{ env: DemoEnv; out: string; err: string }> {
  const env = demoEnv();
  envs.push(env);
  const child = spawn(DEMO, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => {
    out += d;
  });
  child.stderr!.on("data", (d) => {
    err += d;
  });
  const code = await exitOf(child);
  expect(code, `${out}\n${err}`).toBe(0);
  return { env, out, err };
}

describe("demo.sh and testbed command lines", () => {
  it("rejects bad arguments with the usage text and exit 2, before touching anything", async () => {
    for (const args of [["--bogus"], ["--requests", "1"], ["--timeout", "x"], ["--requests"]]) {
      const r = await new Promise<{ code: number | null; stderr: string }>((res) =>
        execFile(DEMO, args, (err, _out, stderr) =>
          res({ code: err ? (err.code as number) : 0, stderr }),
        ),
      );
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/ERROR/);
    }
    const help = execFileSync(DEMO, ["--help"], { encoding: "utf8" });
    expect(help).toMatch(/^Usage: demo\.sh \[OPTIONS\]/);
    expect(help).toContain("--once");
  });

  it("testbed up.sh/down.sh: --help prints the usage; a bad region count exits non-zero", async () => {
    const tb = join(ROOT, "scripts/testbed");
    expect(execFileSync(join(tb, "up.sh"), ["--help"], { encoding: "utf8" })).toMatch(
      /^up\.sh \[N\] +-- simulate a geo-distributed Docker cluster/,
    );
    expect(execFileSync(join(tb, "down.sh"), ["-h"], { encoding: "utf8" })).toMatch(
      /^down\.sh \[region-N \.\.\.\] +-- tear down what up\.sh created/,
    );
    for (const args of [["0"], ["51"], ["two"], ["1", "2"]]) {
      const r = await new Promise<{ code: number; stderr: string }>((res) =>
        execFile(join(tb, "up.sh"), args, (err, _out, stderr) =>
          res({ code: (err?.code as number) ?? 0, stderr }),
        ),
      );
      expect(r.code, args.join(" ")).not.toBe(0);
      expect(r.stderr).toMatch(/\[up\] ERROR: (N must be 1\.\.50|expected at most one argument)/);
    }
  });
});

describe.skipIf(!canRun)("npm run demo", () => {
  it("--once: the rehearsal, firewall table, entry points via the provider, alternating hosts, then a clean exit", async () => {
    const { env, out, err } = await demoOnce(["--once"]);
    const balancer = `${env.TESTBED_NET}.34`;
    const answers = out
      .split(`curl -s http://${balancer}:22001/; done'\n`)[1]
      ?.split("\n\n")[0]
      ?.split("\n");
    expect(answers).toHaveLength(6);
    expect(new Set(answers)).toEqual(new Set(["r1-host-1", "r1-host-2"]));
    expect(answers!.every((a, i) => i === 0 || a !== answers![i - 1])).toBe(true);
    expect(out).toMatch(/^flow +source +destination port +rule id$/m);
    expect(out).toContain(`r1nginx  tcp://${balancer}:22001`);
    expect(out).toContain(`r2nginx  tcp://${balancer}:22002`);
    expect(out).toContain("from outside the allowed sources");
    expect(out).toMatch(
      new RegExp(
        `Dashboard: +https://${balancer.replace(/\./g, "\\.")}:8888/dashboard +\\(user geoswarm, password \\w{32}`,
      ),
    );
    expect(out).toMatch(/Time to alternating requests: \d+\.\d s/);
    expect(err).toContain("registered r1nginx through the LbServer provider");
    expect(err).toContain("teardown complete");
    expect(leftovers(env)).toEqual([]);
  }, 180_000);

  it("--once --labels: the entry point from a labelled service alone, from the config the program rendered, and a refused label", async () => {
    const { env, out, err } = await demoOnce(["--once", "--labels"]);
    const balancer = `${env.TESTBED_NET}.34`;
    const manager = `${env.TESTBED_NET}.35`;
    // The section as the program rendered it on the balancer: the manager's API, its client TLS.
    const section = out.split("# its [providers.docker]\n")[1]?.split("\n\n")[0];
    expect(section).toContain(`endpoint = "tcp://${manager}:2376"`);
    expect(section).toContain('tls_cert_path = "/etc/geoswarm-lb/docker/cert.pem"');
    expect(section).toContain('port_range = "20000-20999"');
    // No LbServer for it: served from the labels alone, alternating between region 1's hosts.
    const answers = out
      .split(`curl -s http://${balancer}:20001/; done'\n`)[1]
      ?.split("\n")
      .slice(0, 4);
    expect(new Set(answers)).toEqual(new Set(["r1-host-1", "r1-host-2"]));
    expect(answers!.every((a, i) => i === 0 || a !== answers![i - 1])).toBe(true);
    expect(out).toContain("from outside balancer.labels.allowedCidrs");
    expect(out).toMatch(
      /from outside balancer\.labels\.allowedCidrs \(\S+\): dropped by the firewall/,
    );
    expect(out).toMatch(
      /"servers":\[\{"name":"[^"]+","port":20001,"protocol":"tcp","members":\["service r1labels"\],"backends":2/,
    );
    expect(out).toMatch(
      /GET \/providers refusals: \{"source":"service","name":"r1outside","label":"geoswarm\.lb\.port","value":"19000"/,
    );
    expect(out).toMatch(
      /refused: service r1outside: label geoswarm\.lb\.port=\\?"19000\\?": expected a port in the allowed range/,
    );
    expect(err).toContain("teardown complete");
    expect(leftovers(env)).toEqual([]);
  }, 240_000);

  it("interactive: serves until Ctrl-C, which tears everything down and exits 0", async () => {
    const env = demoEnv();
    envs.push(env);
    // In its own process group, like a terminal's foreground job. (Through `npm run demo`, npm
    // waits for the script's teardown and then reports the SIGINT as its own way of exiting.)
    const child = spawn(DEMO, [], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
    });
    child.stderr!.on("data", (d) => {
      out += d;
    });
    await until(
      () => out.includes("press Ctrl-C") || child.exitCode !== null,
      150_000,
      "the demo to be ready",
    );
    expect(child.exitCode, out).toBeNull();
    const [, ns, url] = out.match(/r2nginx .* sudo ip netns exec (\S+) curl -s (\S+)/) ?? [];
    expect(ns, out).toBeDefined();
    const r2 = [await fromNamespace(ns, url), await fromNamespace(ns, url)]
      .map((a) => a.body)
      .sort();
    expect(r2).toEqual(["r2-host-1", "r2-host-2"]);

    process.kill(-child.pid!, "SIGINT");
    const code = await exitOf(child);
    expect(code, out).toBe(0);
    expect(out).toContain("interrupted");
    expect(out).toContain("teardown complete");
    expect(leftovers(env)).toEqual([]);
  }, 240_000);
});
