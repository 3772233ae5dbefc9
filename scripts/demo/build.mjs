// Bundles scripts/demo/register.ts (the LbServer provider's code path as a small CLI) into
// scripts/demo/dist/register.cjs, which runs with plain `node`. Inside the package, so the
// provider finds the geoswarm root and lb/dist/config.cjs (built by `npm run build:lb`).
// Written to a temp file and renamed, so a concurrent run never sees it half written.
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { build } from "esbuild";

const entry = new URL("./register.ts", import.meta.url).pathname;
const outfile = new URL("./dist/register.cjs", import.meta.url).pathname;
const result = await build({
  entryPoints: [entry],
  outfile,
  write: false,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  legalComments: "none",
  logLevel: "error",
});
mkdirSync(new URL("./dist/", import.meta.url).pathname, { recursive: true });
const tmp = `${outfile}.${process.pid}.tmp`;
writeFileSync(tmp, result.outputFiles[0].contents);
renameSync(tmp, outfile);
