// esbuild into one CommonJS file for plain `node`, written to a temp file and renamed so that a
// concurrent reader (another test run) never sees it missing or half written.
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { build } from "esbuild";

/** Bundles `entry` (a path) into `outfile`; `extra` are more esbuild options. */
export async function bundle(entry, outfile, extra = {}) {
  const result = await build({
    entryPoints: [entry],
    outfile,
    write: false,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    minify: false,
    sourcemap: false,
    legalComments: "none",
    logLevel: "warning",
    ...extra,
  });
  mkdirSync(dirname(outfile), { recursive: true });
  const tmp = `${outfile}.${process.pid}.tmp`;
  writeFileSync(tmp, result.outputFiles[0].contents);
  renameSync(tmp, outfile);
}
