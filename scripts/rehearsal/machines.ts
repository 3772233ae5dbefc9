// The testbed side of the rehearsal: one network namespace per machine (scripts/testbed/up.sh
// with TESTBED_DOCKERD=0), each with its own mount and UTS namespaces (machine.sh holder), and how
// to run commands and write files inside a machine.
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { shq } from "../../components/render/scripts";

export const REHEARSAL_HOME = resolve(
  __dirname,
  existsSync(join(__dirname, "machine.sh")) ? "." : "..",
);
const TESTBED = resolve(REHEARSAL_HOME, "../testbed");

export { shq };

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(
  cmd: string,
  args: string[],
  opts: { stdin?: string | Buffer; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<ExecResult> {
  return new Promise((res) => {
    const child = execFile(
      cmd,
      args,
      {
        env: { ...process.env, ...opts.env },
        timeout: opts.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) =>
        res({
          code: err ? (typeof err.code === "number" ? err.code : 1) : 0,
          stdout: String(stdout),
          // A spawn failure, a timeout or a signal has no exit status: say what happened.
          stderr: `${stderr}${err && typeof err.code !== "number" ? `${err.message}\n` : ""}`,
        }),
    );
    // A command may exit without reading all of its stdin (as over SSH): EPIPE is not an error
    // of the rehearsal; the command's exit status says how it went.
    child.stdin?.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE") throw err;
    });
    if (opts.stdin !== undefined) child.stdin?.end(opts.stdin);
    else child.stdin?.end();
  });
}

async function must(
  cmd: string,
  args: string[],
  opts: Parameters<typeof run>[2] = {},
): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0)
    throw new Error(
      `${cmd} ${args.join(" ").slice(0, 200)}: exit ${r.code}\n${r.stderr}${r.stdout}`,
    );
  return r.stdout;
}

export interface Machine {
  /** Machine (or client) name; also its host name until user data sets one. */
  name: string;
  ip: string;
  netns: string;
  /** The testbed region dir of its namespace: the machine's disk (root/, data/, logs). */
  dir: string;
  /** The testbed's cgroup and containerd namespace name for it. */
  cg: string;
  holder?: number;
}

/** Network namespaces for `hosts` (name → address) on subnet `net` (a.b.c), with holders. */
export class Testbed {
  readonly machines: Machine[] = [];
  readonly env: Record<string, string>;
  readonly image = "testbed/busybox:latest";

  constructor(
    readonly dir: string,
    readonly prefix: string,
    readonly net: string,
  ) {
    this.env = {
      TESTBED_DIR: dir,
      TESTBED_PREFIX: prefix,
      TESTBED_NET: net,
      TESTBED_DOCKERD: "0",
      TESTBED_FORMAT: "json",
    };
  }

  async up(hosts: [string, string][]): Promise<void> {
    const octets = hosts.map(([, ip]) => ip.split(".")[3]);
    await must(join(TESTBED, "up.sh"), [String(hosts.length)], {
      env: { ...this.env, TESTBED_ADDRS: octets.join(" ") },
    });
    hosts.forEach(([name, ip], k) => {
      const i = k + 1;
      this.machines.push({
        name,
        ip,
        netns: `${this.prefix}-region-${i}`,
        dir: join(this.dir, `region-${i}`),
        cg: `${this.prefix}-region-${i}`,
      });
    });
    await Promise.all(this.machines.map((m) => this.startHolder(m)));
  }

  private async startHolder(m: Machine): Promise<void> {
    const child = spawn(
      "nsenter",
      [
        `--net=/run/netns/${m.netns}`,
        "unshare",
        "--mount",
        "--uts",
        "--propagation",
        "private",
        "--",
        join(REHEARSAL_HOME, "machine.sh"),
        "holder",
        m.dir,
        m.name,
      ],
      { detached: true, stdio: ["ignore", "ignore", "inherit"] },
    );
    child.unref();
    m.holder = child.pid;
    for (let t = 0; t < 200; t++) {
      if (existsSync(join(m.dir, "holder.ready"))) return;
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`rehearsal: machine ${m.name} (${m.netns}) did not come up`);
  }

  byIp(ip: string): Machine {
    const m = this.machines.find((x) => x.ip === ip);
    if (!m) throw new Error(`rehearsal: no testbed machine has the address ${ip}`);
    return m;
  }

  byName(name: string): Machine {
    const m = this.machines.find((x) => x.name === name);
    if (!m) throw new Error(`rehearsal: no testbed machine named ${name}`);
    return m;
  }

  /** Runs `script` with sh inside machine `m` (its network, mount and UTS namespaces, the shims first on PATH). */
  exec(
    m: Machine,
    script: string,
    opts: { stdin?: string | Buffer; timeoutMs?: number } = {},
  ): Promise<ExecResult> {
    if (!m.holder) throw new Error(`rehearsal: machine ${m.name} has no holder`);
    const env = {
      PATH: `${join(REHEARSAL_HOME, "bin")}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      RH_HOME: REHEARSAL_HOME,
      RH_DIR: m.dir,
      RH_CG: m.cg,
      RH_NAME: m.name,
      HOME: "/home/ubuntu",
      USER: "ubuntu",
      LOGNAME: "ubuntu",
    };
    const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    return run(
      "nsenter",
      ["-t", String(m.holder), "-n", "-m", "-u", "--", "env", "-i", ...envArgs, "sh", "-c", script],
      {
        stdin: opts.stdin,
        timeoutMs: opts.timeoutMs,
      },
    );
  }

  /** Writes a file inside machine `m` (its own view of the path). */
  async writeFile(
    m: Machine,
    path: string,
    content: string | Buffer,
    mode = "0644",
    owner?: string,
  ): Promise<void> {
    const chown = owner ? ` && chown ${shq(owner)} ${shq(path)}` : "";
    const r = await this.exec(
      m,
      `mkdir -p "$(dirname ${shq(path)})" && cat > ${shq(path)} && chmod ${shq(mode)} ${shq(path)}${chown}`,
      { stdin: content },
    );
    if (r.code !== 0) throw new Error(`writing ${path} on ${m.name}: ${r.stderr}`);
  }

  async down(): Promise<void> {
    try {
      await run(join(TESTBED, "down.sh"), [], { env: this.env, timeoutMs: 180_000 });
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** A free 10.x.y subnet, a unique prefix and a work dir for one rehearsal. */
export async function newTestbed(
  opts: { prefix?: string; net?: string; dir?: string } = {},
): Promise<Testbed> {
  let net = opts.net ?? "";
  for (let i = 0; i < 50 && net === ""; i++) {
    const candidate = `10.${202 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
    if ((await run("ip", ["-4", "route", "show", `${candidate}.0/24`])).stdout.trim() === "")
      net = candidate;
  }
  if (net === "") throw new Error("no free 10.x.y.0/24 subnet for the rehearsal");
  const prefix =
    opts.prefix ??
    `h${Math.random()
      .toString(36)
      .slice(2, 7)
      .replace(/[^a-z0-9]/g, "0")}`;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), `rehearsal-${prefix}-`));
  return new Testbed(dir, prefix, net);
}
