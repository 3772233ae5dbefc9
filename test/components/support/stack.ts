// Reads Pulumi.prod.yaml the way `pulumi.Config("geoswarm")` sees it: key → value without the
// namespace. Uses python3's YAML parser (present wherever cloud-init is installed).
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { parseClusterSpec, StackConfigError } from "../../../components/config";

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

/** A real ed25519 public key (its private half was discarded), for stacks built under test. */
export const TEST_SSH_PUBLIC_KEY =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKmjyrLnhipsnBdBz3QE+aRio5B+71E755noO0asOK0L geoswarm-test";
/** An operator network outside the documentation ranges (shared address space, RFC 6598). */
export const TEST_OPERATOR_CIDR = "100.64.10.0/24";

/**
 * A deep copy of Pulumi.prod.yaml's values with its placeholders replaced the way an operator
 * must before `pulumi up` (ssh.publicKey, ssh.allowedCidr), so that parseClusterSpec accepts it.
 * readStackFile() gives the file as shipped.
 */
export function testStackConfig(): Record<string, any> {
  const raw = structuredClone(readStackFile()) as Record<string, any>;
  raw.ssh = { ...raw.ssh, publicKey: TEST_SSH_PUBLIC_KEY, allowedCidr: TEST_OPERATOR_CIDR };
  return raw;
}

/** The prod stack ready to deploy (testStackConfig), to break one key at a time. */
export const prodConfig = (): Record<string, any> => testStackConfig();

/** The problems parseClusterSpec reports for `raw`; fails when it accepts it. */
export function specProblems(raw: Record<string, unknown>): string[] {
  try {
    parseClusterSpec(raw);
  } catch (e) {
    if (e instanceof StackConfigError) return e.problems;
    throw e;
  }
  throw new Error("expected a StackConfigError");
}
