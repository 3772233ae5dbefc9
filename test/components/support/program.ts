// Runs the real program (index.ts) under the mocks of ./mocks.ts with a stack config, as the
// Pulumi engine would run `pulumi preview` against it, and returns every registered resource
// with its inputs and options. A test may run it several times in one process (each run installs
// fresh mocks and re-imports the program), e.g. to compare a stack before and after a change.
import * as pulumi from "@pulumi/pulumi";
import { vi } from "vitest";
import { installMocks, type Recorded, resolved, settled } from "./mocks";
import { testStackConfig } from "./stack";

const FAKE_SSH_PRIVATE_KEY =
  "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----";

export interface ProgramRun {
  recorded: Recorded[];
  /** The program module's exports (the stack outputs). */
  program: Record<string, any>;
}

/**
 * Runs index.ts with `config` (geoswarm keys without the namespace; default: Pulumi.prod.yaml's
 * with its placeholders replaced, testStackConfig)
 * after `mutate` changed a deep copy of it. Resolves once no resource has been registered for a
 * while after the main outputs resolved.
 */
export async function runProgram(
  mutate: (config: Record<string, any>) => void = () => {},
  base: Record<string, unknown> = testStackConfig(),
): Promise<ProgramRun> {
  const recorded = await installMocks();
  const raw = structuredClone(base) as Record<string, any>;
  mutate(raw);
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    config[`geoswarm:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
  }
  config["geoswarm:sshPrivateKey"] ??= FAKE_SSH_PRIVATE_KEY;
  pulumi.runtime.setAllConfig(config, ["geoswarm:sshPrivateKey"]);
  vi.resetModules();
  const program = await import("../../../index");
  await resolved(
    pulumi.all([program.balancerApiUrl, program.dockerHost, program.hostIps, program.entryPoints]),
  );
  await settled(recorded);
  return { recorded, program };
}
