// Reads Pulumi.prod.yaml the way `pulumi.Config("geoswarm")` sees it: key → value without the
// namespace. Uses python3's YAML parser (present wherever cloud-init is installed).
import { execFileSync } from "node:child_process";
import * as path from "node:path";

export const ROOT = path.resolve(__dirname, "../../..");

const cache = new Map<string, Record<string, unknown>>();

export function readStackFile(file = path.join(ROOT, "Pulumi.prod.yaml")): Record<string, unknown> {
  const hit = cache.get(file);
  if (hit) return hit;
  const json = execFileSync(
    "python3",
    ["-c", "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", file],
    { encoding: "utf8" },
  );
  const config = (JSON.parse(json) as { config: Record<string, unknown> }).config;
  const raw: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) {
    if (k.startsWith("geoswarm:")) raw[k.slice("geoswarm:".length)] = v;
  }
  cache.set(file, raw);
  return raw;
}

/** A deep copy of the prod stack's values, to break one key at a time. */
export const prodConfig = (): Record<string, any> => structuredClone(readStackFile());
