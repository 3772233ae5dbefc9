// "exec": runs `<exec_command> <host> <port>` (one executable, no shell, no extra arguments).
//   non-zero exit, death by signal, spawn error or timeout → unhealthy;
//   exit 0: stdout with surrounding whitespace trimmed is compared to the trimmed
//   exec_expected_positive_output → healthy, or exec_expected_negative_output → unhealthy;
//   anything else → unknown (the state machine counts it as a failure; the runner logs it).
// Trimming is a deliberate fix: gobetween compares byte-exactly, so `echo 1` (with its newline)
// never matches "1" there.
// The backend also arrives in the environment as GEOSWARM_LB_BACKEND_HOST and
// GEOSWARM_LB_BACKEND_PORT. Hosts come from discovery sources (HTTP bodies, Consul, Docker), so a
// host that is not an IP address or a DNS name (one starting with "-" would be read as an option)
// is never passed: the check does not run and the backend counts as unhealthy.
// The command runs in its own process group; on timeout or abort the whole group is SIGKILLed
// (so helpers it forked die too) and the check settles at once. stdout is capped at 64 KiB.
import { spawn } from "node:child_process";
import { isIpLiteral, unbracketHost } from "../config/address";
import type { HealthcheckConfig } from "../config/types";
import { killProcessGroup } from "../process-group";
import { type HealthCheck, settleOnce } from "./check";

const MAX_STDOUT = 64 * 1024;

/** An IP literal (IPv6 with or without brackets) or a DNS name: never starts with "-". */
export function isSafeHostArgument(host: string): boolean {
  if (isIpLiteral(unbracketHost(host))) return true;
  return /^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})$/.test(host);
}

export function createExecCheck(cfg: HealthcheckConfig): HealthCheck {
  const command = cfg.exec_command ?? "";
  const positive = cfg.exec_expected_positive_output?.trim();
  const negative = cfg.exec_expected_negative_output?.trim();
  return (host, port, timeoutMs, signal) => {
    if (!isSafeHostArgument(host)) return Promise.resolve("unhealthy");
    const child = spawn(command, [host, String(port)], {
      env: {
        ...process.env,
        GEOSWARM_LB_BACKEND_HOST: host,
        GEOSWARM_LB_BACKEND_PORT: String(port),
      },
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
