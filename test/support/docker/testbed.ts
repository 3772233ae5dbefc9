// Real Docker engines for tests, started with the project's own scripts/testbed (each dockerd in
// its own network namespace with its own --data-root/--exec-root/--pidfile/--host under a temp
// dir, its own docker0 inside the namespace, a busybox image made with `docker import`).
// Every testbed gets a unique prefix, subnet and directory, so test files can run side by side
// and next to a developer's demo testbed, and is torn down by down.sh.
//
// Availability: when dockerd (or root) is missing, tests FAIL in CI (process.env.CI set) and are
// skipped with a loud message otherwise.
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const SCRIPTS = resolve(__dirname, "../../../scripts/testbed");

export interface Region {
  name: string;
  ip: string;
  netns: string;
  /** tcp://ip:2375 */
  dockerHost: string;
  /** unix:///…/docker.sock */
  dockerSock: string;
}

export interface Testbed {
  dir: string;
  prefix: string;
  image: string;
  regions: Region[];
  /** tcp://… of the swarm manager (region-1) when started with swarm. */
  managerHost?: string;
  /** Runs the docker CLI against region `i` (1-based); resolves with trimmed stdout. */
  docker(i: number, ...args: string[]): Promise<string>;
  down(): Promise<void>;
}

/** Why Docker tests cannot run here, or undefined when they can. */
export function dockerUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "not running as root";
  for (const bin of ["dockerd", "docker", "containerd", "ip", "iptables", "nsenter", "curl"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" });
    } catch {
      return `${bin} not found (scripts/setup.sh installs docker.io, iproute2, iptables)`;
    }
  }
  if (!existsSync("/bin/busybox") && !existsSync("/usr/bin/busybox")) {
    return "busybox not found (apt-get install busybox-static)";
  }
  return undefined;
}

/**
 * Call at the top of a Docker test file: throws in CI when Docker cannot run, prints a loud
 * warning and returns false (skip) outside CI, returns true when the tests can run.
 */
export function requireDocker(file: string): boolean {
  const why = dockerUnavailable();
  if (!why) return true;
  if (process.env.CI) throw new Error(`${file}: Docker tests cannot run in CI: ${why}`);
  process.stderr.write(`\n*** ${file} SKIPPED: ${why} ***\n\n`);
  return false;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number) {
  return new Promise<string>((res, rej) => {
    execFile(
      cmd,
      args,
      { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) rej(new Error(`${cmd} ${args.join(" ")}: ${err.message}\n${stderr}`));
        else res(stdout.trim());
      },
    );
  });
}

function routed(net: string): boolean {
  const out = execFileSync("ip", ["-4", "route", "show", `${net}.0/24`], { encoding: "utf8" });
  return out.trim() !== "";
}

export async function startTestbed(opts: { regions: number; swarm?: boolean }): Promise<Testbed> {
  const prefix = `g${Math.random()
    .toString(36)
    .slice(2, 7)
    .replace(/[^a-z0-9]/g, "0")}`;
  let net = "";
  for (let i = 0; i < 50 && net === ""; i++) {
    const candidate = `10.${202 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
    if (!routed(candidate)) net = candidate;
  }
  if (net === "") throw new Error("no free 10.x.y.0/24 subnet for the testbed");
  const dir = mkdtempSync(join(tmpdir(), `testbed-${prefix}-`));
  const env = {
    TESTBED_DIR: dir,
    TESTBED_PREFIX: prefix,
    TESTBED_NET: net,
    TESTBED_SWARM: opts.swarm ? "1" : "0",
    TESTBED_FORMAT: "json",
  };
  const down = async (): Promise<void> => {
    try {
      await run(join(SCRIPTS, "down.sh"), [], env, 120_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    await run(join(SCRIPTS, "up.sh"), [String(opts.regions)], env, 120_000);
  } catch (err) {
    await down().catch(() => {});
    throw err;
  }
  const desc = JSON.parse(readFileSync(join(dir, "regions.json"), "utf8")) as {
    image: string;
    swarm: { manager_host: string } | null;
    regions: Array<{
      name: string;
      ip: string;
      netns: string;
      docker_host: string;
      docker_sock: string;
    }>;
  };
  const regions = desc.regions.map((r) => ({
    name: r.name,
    ip: r.ip,
    netns: r.netns,
    dockerHost: r.docker_host,
    dockerSock: r.docker_sock,
  }));
  return {
    dir,
    prefix,
    image: desc.image,
    regions,
    managerHost: desc.swarm?.manager_host,
    docker: (i, ...args) => run("docker", ["-H", regions[i - 1].dockerSock, ...args], {}, 60_000),
    down,
  };
}
