// Bundles geoswarm-lb into one CommonJS file that runs with plain `node` and no node_modules, and
// the shared config schema (lb/src/config) into lb/dist/config.cjs for the LbServer dynamic
// provider, which loads it with require() at run time (it may not capture module imports).
import { readFileSync } from "node:fs";
import { bundle } from "../scripts/bundle.mjs";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const path = (p) => new URL(p, import.meta.url).pathname;

await bundle(path("./src/main.ts"), path("./dist/geoswarm-lb.cjs"), {
  banner: { js: "#!/usr/bin/env node" },
  define: { GEOSWARM_LB_VERSION: JSON.stringify(pkg.version) },
});
await bundle(path("./src/config/index.ts"), path("./dist/config.cjs"));
