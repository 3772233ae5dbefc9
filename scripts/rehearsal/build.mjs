// Bundles the demo (scripts/rehearsal/demo.ts, with the program and the components it runs) into
// scripts/rehearsal/dist/demo.cjs for plain `node`; npm packages stay external (node_modules).
import { bundle } from "../bundle.mjs";

await bundle(
  new URL("./demo.ts", import.meta.url).pathname,
  new URL("./dist/demo.cjs", import.meta.url).pathname,
  { logLevel: "error", packages: "external" },
);
