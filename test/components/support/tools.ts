// Real validators (cloud-init, shellcheck, systemd-analyze, geoswarm-lb --check) for renderer tests.
// In CI (process.env.CI set) a missing tool FAILS the test: scripts/setup.sh installs them all.
// Locally a missing tool skips with a loud message.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { expect } from "vitest";

function onPath(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

/** True when `cmd` can run; throws in CI when it cannot; warns loudly otherwise. */
export function haveTool(cmd: string, apt: string): boolean {
  if (onPath(cmd)) return true;
  const msg = `${cmd} is not installed (Debian package ${apt}; scripts/setup.sh installs it)`;
  if (process.env.CI) throw new Error(`${msg}: required in CI`);
  console.warn(`\n!!!!! SKIPPING a real-tool check: ${msg} !!!!!\n`);
  return false;
}

export const scratch = (): string => mkdtempSync(path.join(tmpdir(), "geoswarm-render-"));

function run(cmd: string, args: string[]): { status: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return { status: r.status ?? -1, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

/** `cloud-init schema --config-file`: must exit 0 and report no deprecations. */
export function expectValidCloudConfig(text: string, label: string): void {
  if (!haveTool("cloud-init", "cloud-init")) return;
  const file = path.join(scratch(), "user-data.yaml");
  writeFileSync(file, text);
  const r = run("cloud-init", ["schema", "--config-file", file]);
  expect(r.status, `${label}: ${r.out}`).toBe(0);
  expect(r.out, label).toContain("Valid cloud-config");
  expect(r.out, label).not.toMatch(/deprecat/i);
}

/** shellcheck with every optional severity down to style. */
export function expectShellcheckClean(script: string, label: string): void {
  if (!haveTool("shellcheck", "shellcheck")) return;
  const file = path.join(scratch(), "script.sh");
  writeFileSync(file, script);
  const r = run("shellcheck", ["--severity=style", "--shell=sh", file]);
  expect(r.out, label).toBe("");
  expect(r.status, label).toBe(0);
}

/**
 * `systemd-analyze verify`, which also requires each Exec*= binary to exist: binaries missing on
 * this machine (consul, dockerd, node) are replaced by stubs of the same name in a scratch dir.
 * Any output (unknown keys, bad values) fails the check.
 */
export function expectValidUnit(unit: string, fileName: string, label: string): void {
  if (!haveTool("systemd-analyze", "systemd")) return;
  const dir = scratch();
  const stubs = path.join(dir, "stubs");
  mkdirSync(stubs);
  const text = unit.replace(/^(Exec\w+=[-@:+!]*)(\/\S+)/gm, (all, prefix: string, bin: string) => {
    if (existsSync(bin)) return all;
    const stub = path.join(stubs, path.basename(bin));
    writeFileSync(stub, "#!/bin/sh\nexit 0\n");
    chmodSync(stub, 0o755);
    return `${prefix}${stub}`;
  });
  // Units the host's packages provide (docker.service, consul.service) get stubs too.
  const units = path.join(dir, "units");
  mkdirSync(units);
  for (const m of text.matchAll(/^(?:Requires|Wants|After|BindsTo)=(.+)$/gm)) {
    for (const dep of m[1].split(/\s+/)) {
      const known = ["/lib/systemd/system", "/usr/lib/systemd/system", "/etc/systemd/system"].some(
        (d) => existsSync(path.join(d, dep)),
      );
      if (!known)
        writeFileSync(
          path.join(units, dep),
          "[Unit]\nDescription=stub\n\n[Service]\nExecStart=/bin/true\n",
        );
    }
  }
  const file = path.join(dir, fileName);
  writeFileSync(file, text);
  const r = spawnSync("systemd-analyze", ["verify", "--man=no", file], {
    encoding: "utf8",
    env: { ...process.env, SYSTEMD_UNIT_PATH: `${units}:` },
  });
  expect(`${r.stdout ?? ""}${r.stderr ?? ""}`.trim(), `${label}\n${text}`).toBe("");
  expect(r.status, label).toBe(0);
}

/** Parses YAML with python3's PyYAML, the parser cloud-init itself uses. */
export function parseYaml(text: string): unknown {
  return JSON.parse(
    execFileSync(
      "python3",
      ["-c", "import json,sys,yaml; print(json.dumps(yaml.safe_load(sys.stdin)))"],
      {
        input: text,
        encoding: "utf8",
      },
    ),
  );
}

/** Parses many YAML documents in one python3 run. */
export function parseYamlMany(texts: string[]): unknown[] {
  return JSON.parse(
    execFileSync(
      "python3",
      [
        "-c",
        "import json,sys,yaml; print(json.dumps([yaml.safe_load(t) for t in json.load(sys.stdin)]))",
      ],
      { input: JSON.stringify(texts), encoding: "utf8" },
    ),
  );
}
