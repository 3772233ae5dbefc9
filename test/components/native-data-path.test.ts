// The real program (index.ts under mocks) with `geoswarm:balancer.nativeDataPath` and local builds
// that differ the way machines running `pulumi up` do: the same addon sources built by another
// gcc, or not built at all (no gcc). What must not differ between them: the balancer's restart
// key and install triggers.
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterEach, describe, expect, it, vi } from "vitest";
import { defaultArtifactPath } from "../../components/artifact";
import type { Recorded } from "./support/mocks";
import { runProgram } from "./support/program";
import { scratch } from "./support/tools";

const ID = "c".repeat(64);

// Read once: lb/dist may be rebuilt (by others) while this file runs.
const ARTIFACT = readFileSync(defaultArtifactPath());

/** A copy of the real artifact with the addon as a given machine built it (or not). */
function machine(addon: string | undefined): string {
  const artifact = path.join(scratch(), "geoswarm-lb.cjs");
  writeFileSync(artifact, ARTIFACT);
  const built = addon !== undefined;
  writeFileSync(
    path.join(path.dirname(artifact), "geoswarm-lb.node.json"),
    JSON.stringify({
      identity: ID,
      built,
      skipped: built ? undefined : "gcc: compiler not found",
    }),
  );
  if (built) writeFileSync(path.join(path.dirname(artifact), "geoswarm-lb.node"), addon);
  return artifact;
}

async function deploy(artifact: string, mode?: string): Promise<Recorded[]> {
  vi.doMock("../../components/artifact", async (original) => ({
    ...(await original<typeof import("../../components/artifact")>()),
    defaultArtifactPath: () => artifact,
  }));
  const { recorded } = await runProgram((c) => {
    if (mode) c.balancer = { ...c.balancer, nativeDataPath: mode };
  });
  return recorded;
}

const find = (recorded: Recorded[], type: string, name: string) => {
  const found = recorded.filter((r) => r.type === type && r.name === name);
  expect(found, `${type} ${name}`).toHaveLength(1);
  return found[0];
};
const install = (recorded: Recorded[]) => find(recorded, "command:remote:Command", "lb-install");
const restartKey = (recorded: Recorded[]) =>
  /^restart_key='([0-9a-f]{64})'$/m.exec(install(recorded).inputs.create)?.[1];
const addonCopies = (recorded: Recorded[]) =>
  recorded
    .filter((r) => r.type === "command:remote:CopyToRemote" && r.name === "lb-copy-addon")
    .map((r) => r.inputs.remotePath);
const unit = async (recorded: Recorded[]) =>
  (await find(recorded, "command:remote:CopyToRemote", "lb-copy-unit").inputs.source
    .text) as string;

afterEach(() => {
  vi.doUnmock("../../components/artifact");
  vi.restoreAllMocks();
});

describe("balancer.nativeDataPath in the program", () => {
  it("auto: another compiler's build, or none, keeps the restart key and the install; no build warns once", async () => {
    const warn = vi.spyOn(pulumi.log, "warn").mockImplementation(async () => {});
    const gcc12 = await deploy(machine("\x7fELF ... GCC: (Debian 12.2.0-14) 12.2.0"));
    const gcc13 = await deploy(machine("\x7fELF ... GCC: (Ubuntu 13.2.0-23ubuntu4) 13.2.0"));
    const warnings = () => warn.mock.calls.map((c) => String(c[0]));
    expect(warnings().filter((w) => w.includes("native"))).toEqual([]);
    const noGcc = await deploy(machine(undefined));

    expect(restartKey(gcc12)).toBeDefined();
    expect(restartKey(gcc13)).toBe(restartKey(gcc12));
    expect(restartKey(noGcc)).toBe(restartKey(gcc12));
    expect(install(gcc13).inputs.triggers).toEqual(install(gcc12).inputs.triggers);
    expect(install(noGcc).inputs.triggers).toEqual(install(gcc12).inputs.triggers);
    // The same script, so no run of the install at all: the host keeps what it has.
    expect(install(noGcc).inputs.create).toBe(install(gcc12).inputs.create);
    expect(install(gcc12).inputs.triggers).toContain(`native data path auto ${ID}`);

    // The built addon is still what is copied; without one, nothing is.
    expect(addonCopies(gcc12)).toEqual([`/home/ubuntu/geoswarm-lb-staging/geoswarm-lb-${ID}.node`]);
    expect(addonCopies(noGcc)).toEqual([]);
    expect(await unit(gcc12)).not.toContain("GEOSWARM_LB_NATIVE");

    const native = warnings().filter((w) => w.includes("native data-path addon"));
    expect(native).toHaveLength(1);
    expect(native[0]).toContain(
      "Balancer lb: no native data-path addon was built here (build:lb: gcc: compiler not found), so none is shipped: a new balancer host will run the JS data path",
    );
  }, 120_000);

  it("required: GEOSWARM_LB_NATIVE=1 with a build; without one the preview fails, naming the setting and the build", async () => {
    const built = await deploy(machine("\x7fELF"), "required");
    expect(await unit(built)).toContain("Environment=GEOSWARM_LB_NATIVE=1");
    expect(addonCopies(built)).toHaveLength(1);
    await expect(deploy(machine(undefined), "required")).rejects.toThrow(
      /balancer\.nativeDataPath is "required" but no native addon was built at .*geoswarm-lb\.node \(build:lb: gcc: compiler not found\); install gcc .* run `npm run build:lb`/,
    );
  }, 120_000);

  it("off: GEOSWARM_LB_NATIVE=0, no addon copied, the host's removed", async () => {
    const off = await deploy(machine("\x7fELF"), "off");
    expect(await unit(off)).toContain("Environment=GEOSWARM_LB_NATIVE=0");
    expect(addonCopies(off)).toEqual([]);
    expect(install(off).inputs.create).toContain(
      "sudo rm -f '/opt/geoswarm-lb/geoswarm-lb.node' '/opt/geoswarm-lb/geoswarm-lb.node.id'",
    );
  }, 120_000);

  it("auto with an artifact that has no geoswarm-lb.node.json beside it: previews, ships no addon, warns once", async () => {
    const warn = vi.spyOn(pulumi.log, "warn").mockImplementation(async () => {});
    const artifact = path.join(scratch(), "geoswarm-lb.cjs");
    writeFileSync(artifact, ARTIFACT);
    const recorded = await deploy(artifact);
    expect(addonCopies(recorded)).toEqual([]);
    expect(await unit(recorded)).not.toContain("GEOSWARM_LB_NATIVE");
    expect(install(recorded).inputs.create).toContain(
      "sudo rm -f '/opt/geoswarm-lb/geoswarm-lb.node' '/opt/geoswarm-lb/geoswarm-lb.node.id'",
    );
    const manifest = warn.mock.calls
      .map((c) => String(c[0]))
      .filter((w) => w.includes(".node.json"));
    expect(manifest).toHaveLength(1);
    expect(manifest[0]).toContain(
      `no geoswarm-lb.node.json was found next to the artifact ${artifact}`,
    );
    await expect(deploy(artifact, "required")).rejects.toThrow(
      /balancer\.nativeDataPath is "required" but no geoswarm-lb\.node\.json was found next to the artifact/,
    );
  }, 120_000);

  it("refuses another value, naming the key", async () => {
    await expect(deploy(machine("\x7fELF"), "fast")).rejects.toThrow(
      /geoswarm:balancer\.nativeDataPath: .*"auto".*"required".*"off"/,
    );
  }, 120_000);
});
