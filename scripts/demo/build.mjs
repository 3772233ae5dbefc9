// Bundles scripts/demo/register.ts (the LbServer provider's code path as a small CLI) into
// scripts/demo/dist/register.cjs, which runs with plain `node`. Inside the package, so the
// provider finds the geoswarm root and lb/dist/config.cjs (built by `npm run build:lb`).
import { bundle } from "../bundle.mjs";

await bundle(
  new URL("./register.ts", import.meta.url).pathname,
  new URL("./dist/register.cjs", import.meta.url).pathname,
  { logLevel: "error" },
);
