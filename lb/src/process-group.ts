// Commands run by exec discovery and exec healthchecks start in their own process group
// (spawn with `detached: true`), so a timeout can kill the helpers they forked too.
import type { ChildProcess } from "node:child_process";

/** SIGKILLs the child's whole process group (the child alone if the group is already gone). */
export function killProcessGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    child.kill("SIGKILL");
  }
}
