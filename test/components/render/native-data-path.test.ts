// The balancer's native data path as the Balancer ships it (balancer.nativeDataPath): what
// planNativeDataPath decides from the local build (lb/build.mjs's addon and manifest), the unit's
// GEOSWARM_LB_NATIVE, and the install script's addon step run with sudo stubbed against a scratch
// install directory playing the host. No Pulumi involved (test/components/native-data-path.test.ts
// runs the program).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import type * as net from "node:net";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { LB_UNIT } from "../../../components/balancer";
import { type NativeDataPath, planNativeDataPath } from "../../../components/native-data-path";
import { lbInstallScript, stagedAddonFile } from "../../../components/render/scripts";
import { lbUnit } from "../../../components/render/systemd";
import { expectGolden } from "../support/golden";
import { scriptOptions, unitOptions } from "../support/lb-options";
import { expectShellcheckClean, expectValidUnit, scratch } from "../support/tools";

const ID = "a".repeat(64);
const OTHER_ID = "b".repeat(64);

/** A local build as lb/build.mjs leaves it: artifact, manifest, and the addon when compiled. */
function localBuild(o: { addon?: string; identity?: string; skipped?: string }): string {
  const dir = scratch();
  const artifact = path.join(dir, "geoswarm-lb.cjs");
  writeFileSync(artifact, "// balancer bundle\n");
  const built = o.addon !== undefined;
  writeFileSync(
    path.join(dir, "geoswarm-lb.node.json"),
    JSON.stringify({ identity: o.identity ?? ID, built, skipped: built ? undefined : o.skipped }),
  );
  if (built) writeFileSync(path.join(dir, "geoswarm-lb.node"), o.addon as string);
  return artifact;
}

describe("planNativeDataPath", () => {
  it("renders the three settings into the unit: off → GEOSWARM_LB_NATIVE=0, required → 1, auto → unset", () => {
    const artifact = localBuild({ addon: "ELF built by gcc 12" });
    const env = (mode: NativeDataPath) =>
      lbUnit({ ...unitOptions, native: planNativeDataPath("lb", mode, artifact).env })
        .split("\n")
        .filter((l) => l.includes("GEOSWARM_LB_NATIVE"));
    expect(env("off")).toEqual(["Environment=GEOSWARM_LB_NATIVE=0"]);
    expect(env("required")).toEqual(["Environment=GEOSWARM_LB_NATIVE=1"]);
    expect(env("auto")).toEqual([]);
    const off = lbUnit({ ...unitOptions, native: "0" });
    expectValidUnit(off, LB_UNIT, "geoswarm-lb.service (nativeDataPath off)");
  });

  it("keys on the addon's identity, not its bytes: another compiler's build restarts nothing", () => {
    const gcc12 = planNativeDataPath("lb", "auto", localBuild({ addon: "GCC: (Debian 12.2.0)" }));
    const gcc13 = planNativeDataPath("lb", "auto", localBuild({ addon: "GCC: (Ubuntu 13.2.0)" }));
    expect(gcc12.file).toBeDefined();
    expect(gcc13.key).toBe(gcc12.key);
    expect(gcc13.identity).toBe(ID);
    // New sources (another identity) do change it, and so does the setting.
    const newer = planNativeDataPath("lb", "auto", localBuild({ addon: "x", identity: OTHER_ID }));
    expect(newer.key).not.toBe(gcc12.key);
    expect(planNativeDataPath("lb", "required", localBuild({ addon: "x" })).key).not.toBe(
      gcc12.key,
    );
  });

  it("auto without a built addon: warns why and how to build it, ships none, keeps the key", () => {
    const built = planNativeDataPath("lb", "auto", localBuild({ addon: "ELF" }));
    const plan = planNativeDataPath(
      "lb",
      "auto",
      localBuild({ skipped: "gcc: compiler not found" }),
    );
    expect(plan.file).toBeUndefined();
    expect(plan.env).toBeUndefined();
    expect(plan.key).toBe(built.key);
    expect(plan.identity).toBe(ID);
    expect(plan.warning).toContain(
      "Balancer lb: no native data-path addon was built here (build:lb: gcc: compiler not found), so none is shipped: a new balancer host will run the JS data path",
    );
    expect(plan.warning).toContain("`npm run build:lb`");
    expect(plan.warning).toContain('set balancer.nativeDataPath to "off"');
    expect(built.warning).toBeUndefined();
  });

  it("required without a built addon fails, naming the setting and how to build it", () => {
    const artifact = localBuild({ skipped: "gcc: compiler not found" });
    expect(() => planNativeDataPath("lb", "required", artifact)).toThrow(
      `Balancer lb: balancer.nativeDataPath is "required" but no native addon was built at ${path.join(path.dirname(artifact), "geoswarm-lb.node")} (build:lb: gcc: compiler not found); install gcc (e.g. apt-get install gcc) and run \`npm run build:lb\``,
    );
  });

  it("off ships no addon and needs no build", () => {
    const noManifest = path.join(scratch(), "geoswarm-lb.cjs");
    writeFileSync(noManifest, "// bundle\n");
    const off = planNativeDataPath("lb", "off", noManifest);
    expect(off.file).toBeUndefined();
    expect(off).toMatchObject({ env: "0", identity: "", install: { mode: "off" } });
    expect(() => planNativeDataPath("lb", "sometimes" as NativeDataPath, noManifest)).toThrow(
      'Balancer lb: nativeDataPath must be one of "auto", "required", "off", got "sometimes"',
    );
  });

  it("an artifactPath without geoswarm-lb.node.json beside it: auto ships no addon and warns; required fails", () => {
    // A custom artifactPath built elsewhere; even an addon beside it has no identity to trust.
    const dir = scratch();
    const artifact = path.join(dir, "geoswarm-lb.cjs");
    writeFileSync(artifact, "// bundle\n");
    writeFileSync(path.join(dir, "geoswarm-lb.node"), "ELF of unknown sources");
    const auto = planNativeDataPath("lb", "auto", artifact);
    expect(auto.file).toBeUndefined();
    expect(auto.env).toBeUndefined();
    // The host's addon goes (the install's "off" step): nothing says it matches this artifact.
    expect(auto.install).toEqual({ mode: "off", identity: "" });
    expect(auto.key).not.toBe(planNativeDataPath("lb", "auto", localBuild({ addon: "x" })).key);
    expect(auto.warning).toContain(
      `Balancer lb: no geoswarm-lb.node.json was found next to the artifact ${artifact}`,
    );
    expect(auto.warning).toContain("the balancer runs the JS data path");
    expect(auto.warning).toContain('set balancer.nativeDataPath to "off"');
    // The install script accepts the plan (it refuses an empty identity unless "off").
    expect(lbInstallScript({ ...scriptOptions, addon: auto.install })).toContain(
      "sudo rm -f '/opt/geoswarm-lb/geoswarm-lb.node' '/opt/geoswarm-lb/geoswarm-lb.node.id'",
    );
    expect(() => planNativeDataPath("lb", "required", artifact)).toThrow(
      `Balancer lb: balancer.nativeDataPath is "required" but no geoswarm-lb.node.json was found next to the artifact ${artifact}`,
    );
  });
});

describe("the install script's addon step", () => {
  it("matches its golden file and passes shellcheck, for auto and required", () => {
    const auto = lbInstallScript({ ...scriptOptions, addon: { mode: "auto", identity: ID } });
    expectGolden("balancer/install-addon.sh", auto);
    expectShellcheckClean(auto, "install-addon.sh");
    const required = lbInstallScript({
      ...scriptOptions,
      addon: { mode: "required", identity: ID },
    });
    expectShellcheckClean(required, "install-addon-required.sh");
    // The addon is in place before the check and the restart.
    expect(auto).toMatch(/geoswarm-lb\.node[\s\S]*--check[\s\S]*systemctl restart/);
  });

  // The host: a scratch install dir; sudo logs and, for install/tee, really writes.
  async function install(
    mode: NativeDataPath,
    host: { addonId?: string },
    stagedId?: string,
  ): Promise<{ status: number | null; out: string; calls: string; installed?: string }> {
    const dir = scratch();
    const [staging, installDir, bin] = ["staging", "opt", "bin"].map((d) => path.join(dir, d));
    for (const d of [staging, installDir, bin]) mkdirSync(d);
    for (const f of ["geoswarm-lb.cjs", LB_UNIT, "config.toml"]) {
      writeFileSync(path.join(staging, f), f);
    }
    if (stagedId) writeFileSync(path.join(staging, stagedAddonFile(stagedId)), "staged addon");
    if (host.addonId) {
      writeFileSync(path.join(installDir, "geoswarm-lb.node"), "the host's addon");
      writeFileSync(path.join(installDir, "geoswarm-lb.node.id"), `${host.addonId}\n`);
    }
    const log = path.join(dir, "sudo.log");
    writeFileSync(
      path.join(bin, "sudo"),
      `#!/bin/sh
echo "$*" >> "$SUDO_LOG"
case "$1" in
  install) case "$5" in */geoswarm-lb.node) cp "$4" "$5" ;; esac ;;
  rm) shift; rm "$@" ;;
  tee) case "$2" in */geoswarm-lb.node.id) cat > "$2" ;; *) cat > /dev/null ;; esac ;;
  systemctl) [ "$2" = is-active ] && exit 3 ;;
esac
exit 0
`,
      { mode: 0o755 },
    );
    const server = http.createServer((_req, res) => res.end("OK")).listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const script = lbInstallScript({
        ...scriptOptions,
        stagingDir: staging,
        installDir,
        apiPort: (server.address() as net.AddressInfo).port,
        addon: { mode, identity: ID },
      });
      const child = spawn("sh", ["-c", script], {
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, SUDO_LOG: log },
      });
      let out = "";
      child.stdout.on("data", (c) => (out += c));
      child.stderr.on("data", (c) => (out += c));
      const [status] = (await once(child, "exit")) as [number | null];
      const addon = path.join(installDir, "geoswarm-lb.node");
      const idFile = `${addon}.id`;
      return {
        status,
        out,
        calls: readFileSync(log, "utf8"),
        installed: existsSync(addon)
          ? `${readFileSync(addon, "utf8")} ${existsSync(idFile) ? readFileSync(idFile, "utf8").trim() : "(no id)"}`
          : undefined,
      };
    } finally {
      server.close();
    }
  }

  it("installs the staged build, keeps the host's own of the same sources, removes another", async () => {
    // Built where pulumi ran: installed, with its identity beside it.
    const staged = await install("auto", { addonId: OTHER_ID }, ID);
    expect(staged.status, staged.out).toBe(0);
    expect(staged.installed).toBe(`staged addon ${ID}`);
    // pulumi ran without gcc: the host's addon of the same identity stays (native, no flip).
    const kept = await install("auto", { addonId: ID });
    expect(kept.status, kept.out).toBe(0);
    expect(kept.installed).toBe(`the host's addon ${ID}`);
    expect(kept.out).toContain(`keeping the installed native addon ${ID}`);
    expect(kept.calls).not.toMatch(/^rm /m);
    // ... but one from other sources must not run beside this artifact: JS.
    const stale = await install("auto", { addonId: OTHER_ID });
    expect(stale.status, stale.out).toBe(0);
    expect(stale.installed).toBeUndefined();
    expect(stale.out).toContain("no native addon for these sources");
    // A stale staged build of other sources is not installed either.
    const staleStaged = await install("auto", {}, OTHER_ID);
    expect(staleStaged.installed).toBeUndefined();
  }, 30_000);

  it("required without any addon for these sources fails before restarting; off removes it", async () => {
    const required = await install("required", { addonId: OTHER_ID });
    expect(required.status).toBe(1);
    expect(required.out).toContain(
      `balancer.nativeDataPath is required, but no native addon ${ID} is staged or installed`,
    );
    expect(required.calls).not.toContain("systemctl restart");
    const off = await install("off", { addonId: ID }, ID);
    expect(off.status, off.out).toBe(0);
    expect(off.installed).toBeUndefined();
  }, 30_000);
});
