// "exec": runs `<exec_command> <host> <port>` (one executable, no shell, no extra arguments).
//   non-zero exit, death by signal, spawn error or timeout → unhealthy;
//   exit 0: stdout with surrounding whitespace trimmed is compared to the trimmed
//   exec_expected_positive_output → healthy, or exec_expected_negative_output → unhealthy;
//   anything else → unknown (the state machine counts it as a failure; the runner logs it).
// Trimming is a deliberate fix: gobetween compares byte-exactly, so `echo 1` (with its newline)
// never matches "1" there.
// The command runs in its own process group; on timeout or abort the whole group is SIGKILLed
// (so helpers it forked die too) and the check settles at once. stdout is capped at 64 KiB.
import { spawn } from "node:child_process";
import type { HealthcheckConfig } from "../config/types";
import { killProcessGroup } from "../process-group";
import { type HealthCheck, settleOnce } from "./check";

const MAX_STDOUT = 64 * 1024;

export function createExecCheck(cfg: HealthcheckConfig): HealthCheck {
  const command = cfg.exec_command ?? "";
  const positive = cfg.exec_expected_positive_output?.trim();
  const negative = cfg.exec_expected_negative_output?.trim();
  return (host, port, timeoutMs, signal) => {
    const child = spawn(command, [host, String(port)], {
      stdio: ["ignore", "pipe", "ignore"],
      detached: true,
      windowsHide: true,
    });
    let closed = false;
    const { promise, finish } = settleOnce(timeoutMs, signal, () => {
      if (closed) return;
      child.stdout?.destroy();
      // Also reaches helpers still holding stdout after the command itself exited.
      killProcessGroup(child);
    });
    const out: Buffer[] = [];
    let size = 0;
    child.stdout?.on("data", (chunk: Buffer) => {
      if (size < MAX_STDOUT) {
        out.push(chunk);
        size += chunk.length;
      }
    });
    child.on("error", () => finish("unhealthy"));
    child.on("close", (code) => {
      closed = true;
      if (code !== 0) return finish("unhealthy");
      const text = Buffer.concat(out).toString("utf8").trim();
      if (positive !== undefined && text === positive) finish("healthy");
      else if (negative !== undefined && text === negative) finish("unhealthy");
      else finish("unknown");
    });
    return promise;
  };
}
