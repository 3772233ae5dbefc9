// Bundles geoswarm-lb into one CommonJS file that runs with plain `node` and no node_modules, and
// the shared config schema (lb/src/config) into lb/dist/config.cjs for the LbServer dynamic
// provider, which loads it with require() at run time (it may not capture module imports).
// Then the optional native addon lb/dist/geoswarm-lb.node (buildAddon below).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { bundle } from "../scripts/bundle.mjs";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const path = (p) => new URL(p, import.meta.url).pathname;
// GEOSWARM_LB_OUT_DIR: build somewhere else than lb/dist (the build's own tests).
const outDir = process.env.GEOSWARM_LB_OUT_DIR || path("./dist");

await bundle(path("./src/main.ts"), `${outDir}/geoswarm-lb.cjs`, {
  banner: { js: "#!/usr/bin/env node" },
  define: { GEOSWARM_LB_VERSION: JSON.stringify(pkg.version) },
});
await bundle(path("./src/config/index.ts"), `${outDir}/config.cjs`);
await buildAddon();

/**
 * The native data path (lb/native, see lb/src/proxy/native-relay.ts): gcc against the Node-API
 * headers of the lockfile's node-api-headers, linux-x64 only. Optional: without a compiler, or
 * when it fails, the build still succeeds with one line saying so, and no stale addon is left for
 * the balancer to load (it then relays in JS).
 */
async function buildAddon() {
  const out = `${outDir}/geoswarm-lb.node`;
  const skip = (why) => {
    rmSync(out, { force: true });
    console.log(`build:lb: native addon skipped (${why}); geoswarm-lb will use the JS data path`);
  };
  if (process.platform !== "linux" || process.arch !== "x64") {
    return skip(`built for linux-x64 only, this is ${process.platform}-${process.arch}`);
  }
  const cc = process.env.CC || "gcc";
  const headers = path("../node_modules/node-api-headers/include");
  if (!existsSync(headers)) return skip(`no Node-API headers at ${headers}: run npm ci`);
  const tmp = `${out}.${process.pid}.tmp`;
  const args = [
    ...["-O2", "-shared", "-fPIC", "-Wall", "-Wextra", "-std=gnu11", "-pthread"],
    ...["-I", headers, path("./native/splice-relay.c"), "-o", tmp],
  ];
  const r = spawnSync(cc, args, { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    const why = r.error
      ? `${cc}: ${r.error.code === "ENOENT" ? "compiler not found" : r.error.message}`
      : `${cc} failed: ${(r.stderr || "").trim().split("\n").slice(0, 3).join(" | ")}`;
    return skip(why);
  }
  // Renamed into place: a running balancer keeps the file it mapped.
  renameSync(tmp, out);
}
