// Stands in for the Pulumi engine's dynamic-provider host (@pulumi/pulumi/cmd/dynamic-provider)
// inside a consumer project: in a fresh Node process, loads the serialized provider text the way
// the host does (require-from-string as @pulumi/pulumi resolves it, then `.handler()`), runs one
// method and prints its result as JSON.
//   node provider-run.cjs <provider text file>  < {"method","args"}
"use strict";
const { readFileSync } = require("node:fs");
const { createRequire } = require("node:module");

const fromPulumi = createRequire(require.resolve("@pulumi/pulumi"));
const requireFromString = fromPulumi("require-from-string");
const text = readFileSync(process.argv[2], "utf8");
const { method, args } = JSON.parse(readFileSync(0, "utf8"));

(async () => {
  const provider = requireFromString(text).handler();
  try {
    const result = await provider[method](...args);
    process.stdout.write(JSON.stringify({ ok: true, result: result ?? null }));
  } catch (err) {
    process.stdout.write(JSON.stringify({ ok: false, error: String(err?.message ?? err) }));
  }
})();
