// Stands in for the Pulumi engine's dynamic-provider host (@pulumi/pulumi/cmd/dynamic-provider):
// in a fresh Node process, loads the serialized provider text the way the host does
// (require-from-string, then `.handler()`), runs one method and prints its result as JSON.
//   node provider-host.cjs <path of require-from-string> <provider text file>  < {"method","args"}
"use strict";
const { readFileSync } = require("node:fs");

const requireFromString = require(process.argv[2]);
const text = readFileSync(process.argv[3], "utf8");
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
