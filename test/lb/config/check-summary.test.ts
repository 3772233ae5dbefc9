// `--check` as a newcomer meets it: the summary counts backends once each and pluralises, the
// unknown-key warnings are printed even when the same file has an error, and `workers = N` on a
// Node.js without SO_REUSEPORT fails the check (it would fail at start).
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { summarizeConfig, validateConfig } from "../../../lb/src/config";
import { checkEnvironment } from "../../../lb/src/config/environment";
import { ARTIFACT } from "../support/lb-process";

/** A node older than 22.12 on PATH (Debian's own), to run the artifact as a user would. */
function oldNode(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const node = join(dir, "node");
    const v = spawnSync(node, ["--version"], { encoding: "utf8" }).stdout?.trim() ?? "";
    if (!/^v\d+\.\d+\.\d+$/.test(v)) continue;
    const [major, minor] = v.slice(1).split(".").map(Number);
    if (major < 22 || (major === 22 && minor < 12)) return node;
  }
  return undefined;
}
const OLD_NODE = oldNode();

const dir = mkdtempSync(join(tmpdir(), "geoswarm-check-"));
const server = (list: string[]) => ({
  servers: { web: { bind: "127.0.0.1:0", discovery: { kind: "static", static_list: list } } },
});

describe("--check summary", () => {
  it.each([
    [["127.0.0.1:8001"], "static (1 backend)"],
    [["127.0.0.1:8001", "127.0.0.1:8001 weight=3"], "static (1 backend)"],
    [["127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8001"], "static (2 backends)"],
  ])("%j → %s", (list, shown) => {
    const { config } = validateConfig(server(list));
    expect(summarizeConfig(config)).toContain(`discovery=${shown} `);
  });
});

describe("warnings and errors together", () => {
  it("prints the unknown-key warning and the error", () => {
    const file = join(dir, "both.toml");
    writeFileSync(
      file,
      '[servers.web]\nbind = "127.0.0.1:0"\nbalance = "random"\nbogus_key = 1\n[servers.web.discovery]\nkind = "static"\nstatic_list = ["127.0.0.1:1"]\n',
    );
    const run = spawnSync(process.execPath, [ARTIFACT, "--check", "-c", file], {
      encoding: "utf8",
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/warning: unknown key servers\.web\.bogus_key/);
    expect(run.stderr).toMatch(/servers\.web\.balance: expected one of/);
  });
});

describe("workers and the Node.js version", () => {
  const real = process.version;
  afterEach(() => {
    Object.defineProperty(process, "version", { value: real });
  });

  it.each([
    ["v20.20.2", false],
    ["v22.11.0", false],
    ["v22.12.0", true],
    ["v24.1.0", true],
  ])("workers = 2 on %s: accepted = %s", async (version, ok) => {
    const { config } = validateConfig({ workers: 2, ...server(["127.0.0.1:1"]) });
    Object.defineProperty(process, "version", { value: version });
    const { errors } = await checkEnvironment(config);
    if (ok) expect(errors).toEqual([]);
    else
      expect(errors).toEqual([
        `workers: 2 needs Node.js >= 22.12 (listeners shared with SO_REUSEPORT); this is Node.js ${version} (use workers = 1, or Node.js 22.12 or later)`,
      ]);
  });

  it.skipIf(!OLD_NODE)("the artifact on an older Node: --check and a start both exit 2", () => {
    const file = join(dir, "workers.toml");
    writeFileSync(
      file,
      'workers = 2\n[servers.web]\nbind = "127.0.0.1:0"\n[servers.web.discovery]\nkind = "static"\nstatic_list = ["127.0.0.1:1"]\n',
    );
    const check = spawnSync(OLD_NODE as string, [ARTIFACT, "--check", "-c", file], {
      encoding: "utf8",
    });
    expect(check.stderr).toMatch(/workers: 2 needs Node\.js >= 22\.12/);
    expect(check.stdout).not.toContain("configuration OK");
    expect(check.status).toBe(2);
    const start = spawnSync(OLD_NODE as string, [ARTIFACT, "-c", file], { encoding: "utf8" });
    expect(start.status).toBe(2);
  });

  it("workers = 1 needs nothing of the runtime", async () => {
    const { config } = validateConfig(server(["127.0.0.1:1"]));
    Object.defineProperty(process, "version", { value: "v20.0.0" });
    expect((await checkEnvironment(config)).errors).toEqual([]);
  });
});
