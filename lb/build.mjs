// Bundles geoswarm-lb into one CommonJS file that runs with plain `node` and no node_modules, and
// the shared config schema (lb/src/config) into lb/dist/config.cjs for the LbServer dynamic
// provider, which loads it with require() at run time (it may not capture module imports).
// Each file is written to a temp file and renamed, so a concurrent reader (another test run)
// never sees it missing or half written.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { build } from "esbuild";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

async function bundle(entry, outfile, extra = {}) {
  const result = await build({
    entryPoints: [new URL(entry, import.meta.url).pathname],
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

await bundle("./src/main.ts", new URL("./dist/geoswarm-lb.cjs", import.meta.url).pathname, {
  banner: { js: "#!/usr/bin/env node" },
  define: { GEOSWARM_LB_VERSION: JSON.stringify(pkg.version) },
});
await bundle("./src/config/index.ts", new URL("./dist/config.cjs", import.meta.url).pathname);
