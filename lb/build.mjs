// Bundles geoswarm-lb into one CommonJS file that runs with plain `node` and no node_modules, and
// the shared config schema (lb/src/config) into lb/dist/config.cjs for the LbServer dynamic
// provider, which loads it with require() at run time (it may not capture module imports).

import { readFileSync } from "node:fs";
import { build } from "esbuild";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

await build({
  entryPoints: [new URL("./src/main.ts", import.meta.url).pathname],
  outfile: new URL("./dist/geoswarm-lb.cjs", import.meta.url).pathname,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  minify: false,
  sourcemap: false,
  legalComments: "none",
  banner: { js: "#!/usr/bin/env node" },
  define: { GEOSWARM_LB_VERSION: JSON.stringify(pkg.version) },
  logLevel: "warning",
});

await build({
  entryPoints: [new URL("./src/config/index.ts", import.meta.url).pathname],
  outfile: new URL("./dist/config.cjs", import.meta.url).pathname,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  minify: false,
  sourcemap: false,
  legalComments: "none",
  logLevel: "warning",
});
