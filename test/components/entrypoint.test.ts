// Which file does `pulumi up` run? The Node language host (@pulumi/pulumi cmd/run/run.js) takes
// Pulumi.yaml's `main` when it is set; otherwise it looks in package.json for `exports` (a
// string, or `exports["."]` as a string or its default/require/import), then `main`, and uses
// the first that exists on disk, else the project folder. With no `main` in Pulumi.yaml and a
// built library (dist/components/index.js, from `npm run build`), that is the library, which
// registers no resources: the plan deletes the whole stack. No Pulumi CLI can run here, so this
// test follows the language host's documented rules and the code above, in a copy of the
// project's Pulumi.yaml and package.json next to a built dist/.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./support/stack";

function pulumiYamlMain(projectDir: string): string | undefined {
  const json = execFileSync(
    "python3",
    [
      "-c",
      "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1])).get('main')))",
      path.join(projectDir, "Pulumi.yaml"),
    ],
    { encoding: "utf8" },
  );
  return JSON.parse(json) ?? undefined;
}

/** The program file the Node language host loads for the project in `projectDir`. */
function resolveProgramEntry(projectDir: string): string {
  const main = pulumiYamlMain(projectDir);
  if (main !== undefined) return resolveFile(path.join(projectDir, main));
  const pkg = JSON.parse(readFileSync(path.join(projectDir, "package.json"), "utf8"));
  const existing = (entry: unknown) => {
    const p = typeof entry === "string" ? path.join(projectDir, entry) : undefined;
    return p && existsSync(p) ? p : undefined;
  };
  let program: string | undefined;
  if (typeof pkg.exports === "string") program = existing(pkg.exports);
  else if (typeof pkg.exports === "object" && pkg.exports !== null) {
    const dot = pkg.exports["."];
    program = existing(
      typeof dot === "string" ? dot : (dot?.default ?? dot?.require ?? dot?.import),
    );
  } else if (pkg.main) program = existing(pkg.main);
  return resolveFile(program ?? projectDir);
}

/** Node's (and ts-node's) resolution of a path to a file: itself, or its index. */
function resolveFile(p: string): string {
  if (existsSync(p) && !statSync(p).isDirectory()) return p;
  for (const index of ["index.js", "index.ts"]) {
    if (existsSync(path.join(p, index))) return path.join(p, index);
  }
  return p;
}

function projectCopy(opts: { built: boolean; pulumiYaml?: string }): string {
  const dir = path.join(
    tmpdir(),
    `geoswarm-entry-${process.pid}-${Math.random().toString(36).slice(2)}`,
  );
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, "Pulumi.yaml"),
    opts.pulumiYaml ?? readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"),
  );
  writeFileSync(path.join(dir, "package.json"), readFileSync(path.join(ROOT, "package.json")));
  writeFileSync(path.join(dir, "index.ts"), "// the program\n");
  if (opts.built) {
    mkdirSync(path.join(dir, "dist", "components"), { recursive: true });
    writeFileSync(path.join(dir, "dist", "components", "index.js"), "// the library\n");
  }
  return dir;
}

describe("the program's entry point", () => {
  it("is index.ts before and after `npm run build`", () => {
    expect(pulumiYamlMain(ROOT)).toBe("index.ts");
    for (const built of [false, true]) {
      const dir = projectCopy({ built });
      expect(resolveProgramEntry(dir), `built: ${built}`).toBe(path.join(dir, "index.ts"));
    }
  });

  it("would be the component library after a build if Pulumi.yaml had no main (the defect this guards)", () => {
    const withoutMain = readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8").replace(
      /^main:.*$/m,
      "",
    );
    const dir = projectCopy({ built: true, pulumiYaml: withoutMain });
    expect(resolveProgramEntry(dir)).toBe(path.join(dir, "dist", "components", "index.js"));
  });

  it("registers the Cluster: index.ts constructs it and the library entry does not", () => {
    const program = readFileSync(path.join(ROOT, "index.ts"), "utf8");
    expect(program).toMatch(/new Cluster\(/);
    const library = readFileSync(path.join(ROOT, "components", "index.ts"), "utf8");
    expect(library).not.toMatch(/new \w+\(/);
  });
});
