// `npm run build:lb`'s native addon step (lb/build.mjs): built with gcc from the lockfile's
// node-api-headers when a compiler is there, skipped with one clear line (and no stale addon
// left behind) when not. Each build writes into its own temporary directory, never lb/dist.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NODE22 } from "../support/lb-process";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function build(env: NodeJS.ProcessEnv): { dir: string; status: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), "geoswarm-addon-"));
  dirs.push(dir);
  writeFileSync(join(dir, "geoswarm-lb.node"), "stale addon from an earlier build");
  const r = spawnSync(process.execPath, ["lb/build.mjs"], {
    env: { ...process.env, GEOSWARM_LB_OUT_DIR: dir, ...env },
    encoding: "utf8",
  });
  return { dir, status: r.status, out: `${r.stdout}${r.stderr}` };
}

const hasGcc = spawnSync("gcc", ["--version"]).status === 0;
if (!hasGcc && process.env.CI) throw new Error("gcc is missing: scripts/setup.sh installs it");

describe("build:lb native addon", () => {
  it("without a compiler: succeeds, says the addon was skipped and why, removes a stale one", () => {
    const { dir, status, out } = build({ CC: "/nonexistent/gcc" });
    expect(status).toBe(0);
    expect(out).toContain(
      "build:lb: native addon skipped (/nonexistent/gcc: compiler not found); geoswarm-lb will use the JS data path",
    );
    expect(existsSync(join(dir, "geoswarm-lb.cjs"))).toBe(true);
    expect(existsSync(join(dir, "geoswarm-lb.node"))).toBe(false);
  });

  it("a failing compile: succeeds too, with the compiler's complaint and no addon", () => {
    const { dir, status, out } = build({ CC: "false" });
    expect(status).toBe(0);
    expect(out).toMatch(/native addon skipped \(false failed: .*\); .* JS data path/);
    expect(existsSync(join(dir, "geoswarm-lb.node"))).toBe(false);
  });

  it.skipIf(!hasGcc)(
    "with gcc: a linux-x64 addon that loads in Node 22, passes its self-test and needs only glibc <= 2.36",
    () => {
      const { dir, status, out } = build({});
      expect(status, out).toBe(0);
      expect(out).not.toContain("skipped");
      const file = join(dir, "geoswarm-lb.node");
      const probe = `const m={exports:{}};process.dlopen(m,${JSON.stringify(file)});console.log(m.exports.selfTest())`;
      expect(execFileSync(NODE22, ["-e", probe], { encoding: "utf8" }).trim()).toBe("true");
      const symbols = execFileSync("objdump", ["-T", file], { encoding: "utf8" });
      const versions = [...symbols.matchAll(/GLIBC_(\d+)\.(\d+)/g)].map(
        (m) => Number(m[1]) * 1000 + Number(m[2]),
      );
      expect(versions.length).toBeGreaterThan(0);
      expect(Math.max(...versions)).toBeLessThanOrEqual(2036);
      const needed = execFileSync("objdump", ["-p", file], { encoding: "utf8" })
        .split("\n")
        .filter((l) => l.includes("NEEDED"))
        .map((l) => l.trim().split(/\s+/)[1]);
      expect(needed).toEqual(["libc.so.6"]);
    },
  );
});
