// Bundles geoswarm-lb into one CommonJS file that runs with plain `node` and no node_modules, and
// the shared config schema (lb/src/config) into lb/dist/config.cjs for the LbServer dynamic
// provider, which loads it with require() at run time (it may not capture module imports).
// Then the optional native addon lb/dist/geoswarm-lb.node and its manifest (buildAddon below).
// `--require-addon` (npm's prepack): fail instead of skipping the addon, so a published package
// always holds it. So `npm pack` and `npm publish` fail on any machine that cannot build it: not
// linux-x64 (the addon's only target), or no gcc. Git dependencies run `prepare` only, which
// skips the addon there.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
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
const addon = await buildAddon();
if (!addon.built && process.argv.includes("--require-addon")) {
  console.error(
    `build:lb: --require-addon: the native addon was not built (${addon.skipped}); a package must ship it: install gcc (apt-get install gcc) and run again`,
  );
  process.exit(1);
}

/**
 * The native data path (lb/native, see lb/src/proxy/native-relay.ts): gcc against the Node-API
 * headers of the lockfile's node-api-headers, linux-x64 only. Optional: without a compiler, or
 * when it fails, the build still succeeds with one line saying so, and no stale addon is left for
 * the balancer to load (it then relays in JS).
 *
 * Beside it, always, the manifest geoswarm-lb.node.json: the addon's identity (a hash of its
 * source, the build flags and the ABI it targets: platform and Node-API headers) and whether this
 * build produced it. The Balancer keys restarts on the identity, not on the binary's bytes: the
 * same source built by another gcc is a different file doing the same thing, and a deployment
 * must not restart the balancer because `pulumi up` ran on another machine. The flags keep
 * some machine-dependent bytes out (-fno-ident: no compiler version string from this source's
 * object; no build-id note), but not all: gcc's startup objects (crti.o, crtbeginS.o) still put
 * their `GCC: (…)` string into `.comment`, so builds by different gcc versions differ there as
 * well. One gcc version still builds byte-identical files on any checkout. Nothing is keyed on
 * the bytes, so the rest is harmless.
 */
async function buildAddon() {
  const out = `${outDir}/geoswarm-lb.node`;
  const source = path("./native/splice-relay.c");
  const headersDir = path("../node_modules/node-api-headers");
  const headers = `${headersDir}/include`;
  const target = "linux-x64";
  const flags = [
    ...["-O2", "-shared", "-fPIC", "-Wall", "-Wextra", "-std=gnu11", "-pthread"],
    ...["-fno-ident", "-Wl,--build-id=none"],
  ];
  const headersVersion = existsSync(`${headersDir}/package.json`)
    ? JSON.parse(readFileSync(`${headersDir}/package.json`, "utf8")).version
    : "missing";
  const identity = createHash("sha256")
    .update(
      JSON.stringify([
        readFileSync(source, "utf8"),
        flags,
        target,
        `node-api-headers@${headersVersion}`,
      ]),
    )
    .digest("hex");
  const manifest = (built, skipped) => {
    const m = { identity, target, nodeApiHeaders: headersVersion, flags, built, skipped };
    writeFileSync(`${out}.json`, `${JSON.stringify(m, null, 2)}\n`);
    return m;
  };
  const skip = (why) => {
    rmSync(out, { force: true });
    console.log(`build:lb: native addon skipped (${why}); geoswarm-lb will use the JS data path`);
    return manifest(false, why);
  };
  if (process.platform !== "linux" || process.arch !== "x64") {
    return skip(`built for linux-x64 only, this is ${process.platform}-${process.arch}`);
  }
  const cc = process.env.CC || "gcc";
  if (!existsSync(headers)) return skip(`no Node-API headers at ${headers}: run npm ci`);
  const tmp = `${out}.${process.pid}.tmp`;
  // Relative to lb/native: no checkout path in the symbol table.
  const args = [...flags, "-I", headers, "splice-relay.c", "-o", tmp];
  const r = spawnSync(cc, args, { encoding: "utf8", cwd: path("./native") });
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    const why = r.error
      ? `${cc}: ${r.error.code === "ENOENT" ? "compiler not found" : r.error.message}`
      : `${cc} failed: ${(r.stderr || "").trim().split("\n").slice(0, 3).join(" | ")}`;
    return skip(why);
  }
  // Renamed into place: a running balancer keeps the file it mapped.
  renameSync(tmp, out);
  return manifest(true, undefined);
}
