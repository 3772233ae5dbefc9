// "exec": runs `exec_command` (program and arguments, no shell) and reads its stdout in the
// backend-line grammar. A non-zero exit status, death by signal, a spawn error or the timeout is
// a failed fetch (the failpolicy applies). The command runs in its own process group, which is
// SIGKILLed on timeout or stop so helpers it forked die too. stdout is capped at 4 MiB; the last
// line of stderr is quoted in failure messages.
import { spawn } from "node:child_process";
import type { DiscoveryConfig } from "../config/types";
import type { Logger } from "../log/logger";
import { killProcessGroup } from "../process-group";
import { abortError } from "./abort";
import { parseBackendLines } from "./lines";
import { Notes } from "./notes";
import type { Fetcher } from "./runner";

const MAX_STDOUT = 4 * 1024 * 1024;
const MAX_STDERR = 16 * 1024;

export function execFetcher(cfg: DiscoveryConfig, log: Logger): Fetcher {
  const [program, ...args] = (cfg.exec_command as string[] | undefined) ?? [];
  if (!program) throw new Error("discovery.exec_command: expected a program and arguments");
  const notes = new Notes(log);
  return async (signal) => {
    notes.begin();
    const stdout = await run(program, args, signal);
    const backends = parseBackendLines(stdout, `exec ${program}`, notes);
    notes.end();
    return backends;
  };
}

function run(program: string, args: string[], signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError(`exec ${program}`, signal));
    const child = spawn(program, args, {
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
      windowsHide: true,
    });
    const out: Buffer[] = [];
    let outSize = 0;
    let err = "";
    let settled = false;
    const finish = (e: Error | null, value = ""): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      if (e) reject(e);
      else resolve(value);
    };
    function onAbort(): void {
      killProcessGroup(child);
      finish(abortError(`exec ${program}`, signal, "timed out (killed)"));
    }
    signal.addEventListener("abort", onAbort, { once: true });
    child.stdout.on("data", (c: Buffer) => {
      outSize += c.length;
      if (outSize > MAX_STDOUT) {
        killProcessGroup(child);
        finish(new Error(`exec ${program}: more than ${MAX_STDOUT} bytes on stdout`));
        return;
      }
      out.push(c);
    });
    child.stderr.on("data", (c: Buffer) => {
      if (err.length < MAX_STDERR) err += c.toString("utf8");
    });
    child.on("error", (e) => finish(new Error(`exec ${program}: ${e.message}`)));
    child.on("close", (code, sig) => {
      if (code === 0) return finish(null, Buffer.concat(out).toString("utf8"));
      const lastErr = err.trim().split("\n").pop()?.trim();
      const how = sig ? `killed by ${sig}` : `exit status ${code}`;
      finish(new Error(`exec ${program}: ${how}${lastErr ? ` (stderr: ${lastErr})` : ""}`));
    });
  });
}
