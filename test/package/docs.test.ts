// The library's reference documentation: TypeDoc (pinned, typedoc.json) generates docs/reference
// from the JSDoc of every export of both entry points, and its validation fails on an export
// without documentation. The README shows the consumer examples the package test runs.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CONSUMER_NAMES, ROOT } from "./support/consumers";

const TYPEDOC = path.join(ROOT, "node_modules/typedoc/bin/typedoc");
const work = mkdtempSync(path.join(tmpdir(), "geoswarm-docs-"));

afterAll(() => rmSync(work, { recursive: true, force: true }));

function typedoc(args: string[]): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [TYPEDOC, ...args], { cwd: ROOT, encoding: "utf8" });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** Every file under `dir`, relative, with its text. */
function tree(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const file = path.join(e.parentPath, e.name);
    files[path.relative(dir, file)] = readFileSync(file, "utf8");
  }
  return files;
}

describe("reference documentation", () => {
  it("docs/reference is what TypeDoc generates from the current sources, with no warning", () => {
    const out = path.join(work, "reference");
    const r = typedoc(["--out", out]);
    // treatWarningsAsErrors: an undocumented export or an unexported referenced type fails here.
    expect(r.output).not.toMatch(/\[warning\]|\[error\]/);
    expect(r.status).toBe(0);
    const generated = tree(out);
    expect(Object.keys(generated)).toContain("@geoswarm/geoswarm/classes/Cluster.md");
    expect(Object.keys(generated)).toContain("@geoswarm/geoswarm/lb-server/README.md");
    expect(
      tree(path.join(ROOT, "docs/reference")),
      "docs/reference is stale: run `npm run docs` and commit it",
    ).toEqual(generated);
  }, 120_000);

  it("the check fails on an export without documentation, and passes once it has some", () => {
    const config = JSON.parse(readFileSync(path.join(ROOT, "typedoc.json"), "utf8"));
    const fixture = path.join(work, "fixture");
    mkdirSync(fixture, { recursive: true });
    writeFileSync(
      path.join(fixture, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { strict: true, skipLibCheck: true }, files: ["lib.ts"] }),
    );
    const check = (source: string) => {
      writeFileSync(path.join(fixture, "lib.ts"), source);
      writeFileSync(
        path.join(fixture, "typedoc.json"),
        JSON.stringify({
          name: "fixture",
          disableSources: true,
          entryPoints: [path.join(fixture, "lib.ts")],
          tsconfig: path.join(fixture, "tsconfig.json"),
          out: path.join(fixture, "out"),
          // The repository's rules, on a library of one export.
          validation: config.validation,
          requiredToBeDocumented: config.requiredToBeDocumented,
          treatWarningsAsErrors: config.treatWarningsAsErrors,
        }),
      );
      return typedoc(["--options", path.join(fixture, "typedoc.json")]);
    };
    const bad = check(
      "/** The library. @module */\nexport interface WidgetArgs { size: number }\n",
    );
    expect(bad.status).not.toBe(0);
    expect(bad.output).toMatch(/WidgetArgs \(Interface\).*does not have any documentation/);
    const good = check(
      "/** The library. @module */\n/** Arguments of a widget. */\nexport interface WidgetArgs { size: number }\n",
    );
    expect(good.output).not.toMatch(/\[warning\]|\[error\]/);
    expect(good.status).toBe(0);
  }, 60_000);
});

describe("README", () => {
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");

  it.each(CONSUMER_NAMES)(
    "shows examples/%s/index.ts, the program the package test runs",
    (name) => {
      const program = readFileSync(path.join(ROOT, "examples", name, "index.ts"), "utf8");
      expect(readme).toContain(`\`\`\`ts\n${program}\`\`\``);
    },
  );

  it("links the generated reference", () => {
    expect(readme).toContain("(docs/reference/README.md)");
  });
});
