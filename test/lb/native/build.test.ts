// `npm run build:lb`'s native addon step (lb/build.mjs): built with gcc from the lockfile's
// node-api-headers when a compiler is there, skipped with one clear line (and no stale addon
// left behind) when not. Each build writes into its own temporary directory, never lb/dist.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NODE22 } from "../support/lb-process";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function build(
  env: NodeJS.ProcessEnv,
  command: string[] = [process.execPath, "lb/build.mjs"],
): { dir: string; status: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), "geoswarm-addon-"));
  dirs.push(dir);
  writeFileSync(join(dir, "geoswarm-lb.node"), "stale addon from an earlier build");
  const r = spawnSync(command[0], command.slice(1), {
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

  const manifest = (dir: string) =>
    JSON.parse(readFileSync(join(dir, "geoswarm-lb.node.json"), "utf8")) as {
      identity: string;
      built: boolean;
      skipped?: string;
    };

  it("writes the addon's identity beside it, built or not: the same whatever the compiler", () => {
    const none = build({ CC: "/nonexistent/gcc" });
    const failed = build({ CC: "false" });
    expect(manifest(none.dir)).toMatchObject({
      built: false,
      skipped: "/nonexistent/gcc: compiler not found",
    });
    expect(manifest(none.dir).identity).toMatch(/^[0-9a-f]{64}$/);
    expect(manifest(failed.dir).identity).toBe(manifest(none.dir).identity);
    if (hasGcc) {
      const built = build({});
      expect(manifest(built.dir)).toMatchObject({
        built: true,
        identity: manifest(none.dir).identity,
      });
    }
  });

  it.skipIf(!hasGcc)(
    "with gcc: reproducible, with no compiler ident of its own and no build-id",
    () => {
      const [a, b] = [build({}), build({})];
      expect(readFileSync(join(a.dir, "geoswarm-lb.node"))).toEqual(
        readFileSync(join(b.dir, "geoswarm-lb.node")),
      );
      const notes = execFileSync("readelf", ["-n", join(a.dir, "geoswarm-lb.node")], {
        encoding: "utf8",
      });
      expect(notes).not.toContain("NT_GNU_BUILD_ID");
    },
  );

  it("npm pack's prepack fails loudly when the addon cannot be built (a package always holds it)", () => {
    const pkg = JSON.parse(readFileSync("package.json", "utf8"));
    expect(pkg.scripts.prepack).toBe("node lb/build.mjs --require-addon");
    expect(pkg.files).toEqual(
      expect.arrayContaining(["lb/dist/geoswarm-lb.node", "lb/dist/geoswarm-lb.node.json"]),
    );
    const { status, out } = build({ CC: "/nonexistent/gcc" }, [
      "npm",
      "run",
      "--silent",
      "prepack",
    ]);
    expect(status).toBe(1);
    expect(out).toContain(
      "build:lb: --require-addon: the native addon was not built (/nonexistent/gcc: compiler not found); a package must ship it: install gcc (apt-get install gcc) and run again",
    );
  });
});
