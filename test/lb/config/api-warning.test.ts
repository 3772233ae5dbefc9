// Basic auth over plain HTTP on a non-loopback bind sends the password in clear. The balancer
// warns (it does not refuse: gobetween configs, the article's among them, do exactly this), in
// validateConfig, in `--check` and at start; not for a loopback bind, nor with [api.tls].
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfigText, validateConfig } from "../../../lb/src/config";
import { ARTIFACT, startLbProcess } from "../support/lb-process";
import { closedPort } from "../support/net";

const dir = mkdtempSync(join(tmpdir(), "lb-api-warning-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const WARNING = "api.basic_auth: the API serves plain HTTP on";

function apiToml(bind: string, tls = ""): string {
  return `[api]\nenabled = true\nbind = "${bind}"\n[api.basic_auth]\nlogin = "admin"\npassword = "pw"\n${tls}`;
}

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

const warningsOf = (toml: string) =>
  validateConfig(parseConfigText(toml, "toml", { envSubst: false })).warnings;

describe("api basic auth over plain HTTP", () => {
  it("warns for a non-loopback bind, names the bind and the fix", () => {
    for (const bind of [":8888", "0.0.0.0:8888", "[::]:8888", "203.0.113.5:8888"]) {
      expect(warningsOf(apiToml(bind)), bind).toEqual([
        `${WARNING} ${JSON.stringify(bind)}, so the password crosses the network in clear; set [api.tls] cert_path and key_path, or bind to a loopback address`,
      ]);
    }
  });

  it("does not warn for a loopback bind, with [api.tls], or without basic auth", () => {
    for (const bind of ["127.0.0.1:8888", "[::1]:8888", "localhost:8888"]) {
      expect(warningsOf(apiToml(bind)), bind).toEqual([]);
    }
    expect(
      warningsOf(apiToml(":8888", '[api.tls]\ncert_path = "c.pem"\nkey_path = "k.pem"\n')),
    ).toEqual([]);
    expect(warningsOf('[api]\nenabled = true\nbind = "127.0.0.1:8888"\n')).toEqual([]);
  });

  it("shows in `--check` output (which still accepts the config), not for loopback", () => {
    const check = (file: string) =>
      spawnSync(process.execPath, [ARTIFACT, "-c", file, "--check"], { encoding: "utf8" });
    const exposed = check(write("exposed.toml", apiToml(":8888")));
    expect(exposed.status, exposed.stderr).toBe(0);
    expect(exposed.stdout).toContain("configuration OK");
    expect(exposed.stderr).toContain(`geoswarm-lb: warning: ${WARNING} ":8888"`);
    const local = check(write("local.toml", apiToml("127.0.0.1:8888")));
    expect(local.status, local.stderr).toBe(0);
    expect(local.stderr).not.toContain("warning");
  });

  it("shows at start for a non-loopback bind, not for loopback", async () => {
    for (const [host, warns] of [
      ["0.0.0.0", true],
      ["127.0.0.1", false],
    ] as const) {
      const port = await closedPort();
      const lb = await startLbProcess(["-c", write(`${host}.toml`, apiToml(`${host}:${port}`))]);
      try {
        expect(lb.output().includes(WARNING), lb.output()).toBe(warns);
      } finally {
        lb.kill();
        await lb.exited;
      }
    }
  }, 30_000);
});
