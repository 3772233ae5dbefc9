// exec discovery against real scripts: output in the backend-line grammar, skipped lines, non-zero
// exit, timeout (process group killed), refresh at the interval.
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { scriptDir } from "../support/scripts";
import { startDiscovery, toml, waitFor } from "./support/helpers";

const { dir, script } = scriptDir("disc-exec-");

describe("exec discovery", () => {
  it("parses stdout lines with options, passes arguments, skips bad lines with one warning", async () => {
    const s = script(
      "list.sh",
      'printf "10.0.0.1:80 weight=3 priority=2 max_connections=7 sni=a.example\\n\\n  10.0.0.2:$1  \\nnot a backend\\n10.0.0.3:81 weigth=2\\n"',
    );
    const d = startDiscovery(
      `kind = "exec"\nexec_command = [${toml(s)}, "8080"]\ninterval = "50ms"`,
    );
    try {
      await waitFor(() => d.updates.length >= 3, "three fetches");
      expect(d.updates[0]).toEqual([
        {
          host: "10.0.0.1",
          port: 80,
          weight: 3,
          priority: 2,
          max_connections: 7,
          sni: "a.example",
        },
        { host: "10.0.0.2", port: 8080, weight: 1, priority: 1, max_connections: 0, sni: "" },
      ]);
      const skipped = d.records.filter((r) => r.msg === "discovery: line skipped");
      expect(skipped.map((r) => r.line)).toEqual(["not a backend", "10.0.0.3:81 weigth=2"]);
      expect(skipped[1].reason).toBe('unknown option "weigth=2"');
    } finally {
      d.stop();
    }
  });

  it("follows changes of the output at the interval", async () => {
    const state = join(dir, "state");
    writeFileSync(state, "10.0.0.1:80\n");
    const s = script("cat.sh", `cat ${state}`);
    const d = startDiscovery(`kind = "exec"\nexec_command = [${toml(s)}]\ninterval = "50ms"`);
    try {
      await waitFor(() => d.current()?.join() === "10.0.0.1:80", "first list");
      writeFileSync(state, "10.0.0.1:80\n10.0.0.9:90\n");
      await waitFor(() => d.current()?.join() === "10.0.0.1:80,10.0.0.9:90", "second list");
    } finally {
      d.stop();
    }
  });

  it("a non-zero exit is a failure (keeplast keeps the pool; setempty empties it)", async () => {
    const flag = join(dir, "fail-flag");
    rmSync(flag, { force: true });
    const s = script(
      "flaky.sh",
      `if [ -e ${flag} ]; then echo "backend store unreachable" >&2; exit 3; fi; echo 10.0.0.1:80`,
    );
    for (const failpolicy of ["keeplast", "setempty"]) {
      rmSync(flag, { force: true });
      const d = startDiscovery(
        `kind = "exec"\nexec_command = [${toml(s)}]\ninterval = "50ms"\nfailpolicy = "${failpolicy}"`,
      );
      try {
        await waitFor(() => d.updates.length >= 1, "first list");
        writeFileSync(flag, "");
        await waitFor(() => d.records.some((r) => r.msg === "discovery failed"), "failure");
        const failure = d.records.find((r) => r.msg === "discovery failed");
        expect(failure?.err).toBe(`exec ${s}: exit status 3 (stderr: backend store unreachable)`);
        if (failpolicy === "setempty") {
          await waitFor(() => d.current()?.length === 0, "empty pool");
        } else {
          expect(d.updates.every((u) => u.length === 1)).toBe(true);
        }
      } finally {
        d.stop();
      }
    }
  });

  it("kills the command and its children on timeout", async () => {
    const marker = join(dir, "child-survived");
    const s = script("slow.sh", `(sleep 1; touch ${marker}) & sleep 5; echo 10.0.0.1:80`);
    const d = startDiscovery(
      `kind = "exec"\nexec_command = [${toml(s)}]\ninterval = "1s"\ntimeout = "150ms"`,
    );
    try {
      const ms = await waitFor(
        () => d.records.some((r) => r.msg === "discovery failed"),
        "timeout failure",
      );
      expect(ms).toBeLessThan(1000);
      expect(d.records.find((r) => r.msg === "discovery failed")?.err).toBe(
        `exec ${s}: timed out (killed)`,
      );
    } finally {
      d.stop();
    }
    await new Promise((r) => setTimeout(r, 1300));
    expect(existsSync(marker)).toBe(false);
  });

  it("a missing program is a failure naming it", async () => {
    const d = startDiscovery(`kind = "exec"\nexec_command = ["${dir}/nope"]\ninterval = "1s"`);
    try {
      await waitFor(() => d.records.some((r) => r.msg === "discovery failed"), "failure");
      expect(d.records.find((r) => r.msg === "discovery failed")?.err).toMatch(
        new RegExp(`^exec ${dir}/nope: spawn ${dir}/nope ENOENT`),
      );
    } finally {
      d.stop();
    }
  });
});
