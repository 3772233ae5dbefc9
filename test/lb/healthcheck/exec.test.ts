import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { HealthcheckConfig } from "../../../lb/src/config/types";
import { createExecCheck } from "../../../lb/src/healthcheck/exec";
import { scriptDir } from "../support/scripts";
import { processRunning, timed } from "./helpers";

const { dir, script } = scriptDir("hc-exec-");

function check(command: string) {
  const cfg: HealthcheckConfig = {
    kind: "exec",
    interval: "1s",
    timeout: "1s",
    fails: 1,
    passes: 1,
    initial_status: "healthy",
    exec_command: command,
    exec_expected_positive_output: "1",
    exec_expected_negative_output: "0",
  };
  return createExecCheck(cfg);
}

describe("exec healthcheck", () => {
  it("passes host and port as arguments; positive output is healthy", async () => {
    const s = script(
      "args.sh",
      '[ "$1" = "10.1.2.3" ] && [ "$2" = "8080" ] && printf 1 || printf 0',
    );
    expect(await check(s)("10.1.2.3", 8080, 2000)).toBe("healthy");
    expect(await check(s)("10.1.2.3", 8081, 2000)).toBe("unhealthy");
  });

  it("negative output is unhealthy", async () => {
    expect(await check(script("neg.sh", "printf 0"))("h", 1, 2000)).toBe("unhealthy");
  });

  it("a trailing newline (echo) still matches", async () => {
    expect(await check(script("nl.sh", "echo 1"))("h", 1, 2000)).toBe("healthy");
    expect(await check(script("nl0.sh", "printf '  0\\r\\n'"))("h", 1, 2000)).toBe("unhealthy");
  });

  it("other output is unknown", async () => {
    expect(await check(script("other.sh", "echo maybe"))("h", 1, 2000)).toBe("unknown");
    expect(await check(script("empty.sh", "true"))("h", 1, 2000)).toBe("unknown");
  });

  it("a non-zero exit is unhealthy even with the positive output", async () => {
    expect(await check(script("exit.sh", "echo 1; exit 3"))("h", 1, 2000)).toBe("unhealthy");
  });

  it("a missing or non-executable command is unhealthy", async () => {
    expect(await check(join(dir, "does-not-exist"))("h", 1, 2000)).toBe("unhealthy");
    const noExec = join(dir, "noexec.sh");
    writeFileSync(noExec, "#!/bin/sh\necho 1\n");
    expect(await check(noExec)("h", 1, 2000)).toBe("unhealthy");
  });

  it("a hanging command is killed at the timeout, with its children", async () => {
    const pidFile = join(dir, "child.pid");
    const s = script("hang.sh", `sleep 30 & echo $! > ${pidFile}; echo 1; wait`);
    const { value, ms } = await timed(check(s)("h", 1, 300));
    expect(value).toBe("unhealthy");
    expect(ms).toBeLessThan(800);
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    for (let i = 0; i < 50 && processRunning(pid); i++) await new Promise((r) => setTimeout(r, 20));
    expect(processRunning(pid)).toBe(false);
  });

  it("settles at once when aborted", async () => {
    const ac = new AbortController();
    const p = timed(check(script("slow.sh", "sleep 30"))("h", 1, 10_000, ac.signal));
    setTimeout(() => ac.abort(), 50);
    const { value, ms } = await p;
    expect(value).toBe("unhealthy");
    expect(ms).toBeLessThan(1000);
  });
});

describe("exec healthcheck: discovered hosts are not options (issue 13, item 15)", () => {
  it("never passes a host that could be read as an option; the backend is unhealthy", async () => {
    const marker = join(dir, "ran");
    const s = script("record.sh", `echo "$@" >> ${marker}; printf 1`);
    for (const host of ["-oProxyCommand=touch /tmp/x", "--help", "-", "a b"]) {
      expect(await check(s)(host, 22, 2000), host).toBe("unhealthy");
    }
    expect(() => readFileSync(marker, "utf8")).toThrow(/ENOENT/);
    // Addresses and names still run, as gobetween's <host> <port>.
    for (const host of ["10.0.0.1", "::1", "[::1]", "web-1.internal", "_svc.example"]) {
      expect(await check(s)(host, 22, 2000), host).toBe("healthy");
    }
  });

  it("also passes the backend in GEOSWARM_LB_BACKEND_HOST and GEOSWARM_LB_BACKEND_PORT", async () => {
    const s = script(
      "env.sh",
      '[ "$GEOSWARM_LB_BACKEND_HOST" = "10.9.8.7" ] && [ "$GEOSWARM_LB_BACKEND_PORT" = "99" ] && printf 1 || printf 0',
    );
    expect(await check(s)("10.9.8.7", 99, 2000)).toBe("healthy");
  });
});
