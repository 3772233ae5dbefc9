// What `--check` (loadConfig) must find before start-up does, and the configuration side of
// issue 13: RE2 patterns (item 5), json paths (item 6), the host checks (item 11), UDP sessions
// (item 12), max_connections without an idle timeout (item 13), password files (item 14).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  ConfigError,
  compileRe2,
  loadConfig,
  parseConfigText,
  summarizeConfig,
  validateConfig,
} from "../../../lb/src/config";
import { frontendSettings } from "../../../lb/src/core/server";
import { ARTIFACT } from "../support/lb-process";

const dir = mkdtempSync(join(tmpdir(), "lb-hardening-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

async function problemsOf(toml: string): Promise<string[]> {
  try {
    await loadConfig(
      { kind: "file", path: write("c.toml", toml), format: "toml" },
      {
        envSubst: false,
      },
    );
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

const validate = (toml: string) =>
  validateConfig(parseConfigText(toml, "toml", { envSubst: false }));

function validationProblems(toml: string): string[] {
  try {
    validate(toml);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

const plaintext = (pattern: string) =>
  `[servers.p]\nbind = "127.0.0.1:0"\n[servers.p.discovery]\nkind = "plaintext"\nplaintext_endpoint = "http://127.0.0.1:1/"\nplaintext_regex_pattern = ${JSON.stringify(pattern)}\n`;

describe("item 5: user patterns run on RE2 (linear time)", () => {
  it("matches (?P<host>(a+)+$) against a hostile line in milliseconds", () => {
    const re = compileRe2("(?P<host>(a+)+$)");
    const line = `${"a".repeat(5000)}b`;
    const started = performance.now();
    expect(re.exec(line)).toBeNull();
    expect(re.exec(`${"a".repeat(28)}`)).toEqual({ host: "a".repeat(28) });
    expect(performance.now() - started).toBeLessThan(500);
  });

  it("keeps gobetween's syntax: named groups, flags, \\A \\z, POSIX classes, \\Q…\\E, \\pL", () => {
    expect(compileRe2("^(?P<host>[^:]+):(?P<port>\\d+)$").exec("a:1")).toEqual({
      host: "a",
      port: "1",
    });
    expect(compileRe2("(?i)^ok").test("OK")).toBe(true);
    expect(compileRe2("\\Aab\\z").test("ab\n")).toBe(false);
    expect(compileRe2("^[[:digit:]]+$").test("123")).toBe(true);
    expect(compileRe2("^\\Qa.b\\E$").test("axb")).toBe(false);
    expect(compileRe2("^\\pL+$").test("héllo")).toBe(true);
    expect(compileRe2("^a\\sb$").test("a\u00a0b")).toBe(false);
  });

  it.each([
    ["lookahead", "(?P<host>a(?=b))(?P<port>1)"],
    ["lookbehind", "(?<=x)(?P<host>a)(?P<port>1)"],
    ["backreference", "(?P<host>a)\\1(?P<port>1)"],
  ])("refuses %s at --check, as RE2 does", (_what, pattern) => {
    const problems = validationProblems(plaintext(pattern));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^servers\.p\.discovery\.plaintext_regex_pattern: expected a regular expression/,
    );
  });

  it("refuses a lookahead in a regexp probe", () => {
    const problems = validationProblems(
      `[servers.w]\nbind = "127.0.0.1:0"\n[servers.w.discovery]\nkind = "static"\nstatic_list = ["a:1"]\n[servers.w.healthcheck]\nkind = "probe"\ninterval = "1s"\nprobe_protocol = "tcp"\nprobe_strategy = "regexp"\nprobe_send = "x"\nprobe_recv = "^(?!ERR)"\nprobe_recv_len = 3\n`,
    );
    expect(problems.join("\n")).toContain(
      "servers.w.healthcheck.probe_recv: expected a valid regular expression",
    );
  });
});

describe("item 6: json paths are validated like every other key", () => {
  it("refuses a malformed json_host_pattern at --check", () => {
    const problems = validationProblems(
      `[servers.j]\nbind = "127.0.0.1:0"\n[servers.j.discovery]\nkind = "json"\njson_endpoint = "http://127.0.0.1:1/"\njson_host_pattern = "a[x]"\n`,
    );
    expect(problems).toEqual([
      'servers.j.discovery.json_host_pattern: expected a path of keys and [n] indices such as "address.ip" or "ports[0]" (invalid path "a[x]" at offset 1), got "a[x]"',
    ]);
  });
});

describe("item 11: --check finds what start-up would", () => {
  it("logging.output in a missing folder", async () => {
    expect(await problemsOf(`[logging]\noutput = "${dir}/no/such/dir/lb.log"\n`)).toEqual([
      expect.stringMatching(
        /^logging\.output: expected a file in an existing, writable folder, got .*ENOENT/,
      ),
    ]);
  });

  it("logging.output in a folder that is not writable", async () => {
    if (process.getuid?.() === 0) {
      // root writes anywhere; /proc is not writable even for root.
      expect(await problemsOf('[logging]\noutput = "/proc/lb.log"\n')).toEqual([
        expect.stringMatching(/^logging\.output: .*\/proc/),
      ]);
    } else {
      expect(await problemsOf('[logging]\noutput = "/lb.log"\n')).toHaveLength(1);
    }
  });

  it("missing api.tls files", async () => {
    const problems = await problemsOf(
      `[api]\nenabled = true\nbind = "127.0.0.1:0"\n[api.basic_auth]\nlogin = "a"\npassword = "b"\n[api.tls]\ncert_path = "${dir}/nope.pem"\nkey_path = "${dir}/nope.key"\n`,
    );
    expect(problems).toEqual([
      `api.tls.cert_path: expected a readable file, got "${dir}/nope.pem" (ENOENT)`,
      `api.tls.key_path: expected a readable file, got "${dir}/nope.key" (ENOENT)`,
    ]);
  });

  it("a link-local bind, and an address that is not this host's", async () => {
    const problems = await problemsOf(
      `[servers.a]\nbind = "169.254.10.10:80"\n[servers.a.discovery]\nkind = "static"\nstatic_list = ["a:1"]\n[servers.b]\nbind = "192.0.2.77:80"\n[servers.b.discovery]\nkind = "static"\nstatic_list = ["a:1"]\n`,
    );
    expect(problems[0]).toMatch(
      /^servers\.a\.bind: expected an address other than a link-local one/,
    );
    expect(problems[1]).toMatch(/^servers\.b\.bind: expected an address of this host/);
  });

  it("API and metrics on one port through localhost and 127.0.0.1", () => {
    expect(
      validationProblems(
        `[api]\nenabled = true\nbind = "localhost:9000"\n[metrics]\nenabled = true\nbind = "127.0.0.1:9000"\n`,
      ),
    ).toEqual([
      'metrics.bind: expected an address not used by api ("localhost:9000"), got "127.0.0.1:9000"',
    ]);
  });

  it("a host name that does not resolve is a warning", async () => {
    const file = write(
      "dns.toml",
      `[servers.j]\nbind = "127.0.0.1:0"\n[servers.j.discovery]\nkind = "json"\njson_endpoint = "http://no-such-host.invalid/"\n`,
    );
    const { warnings } = await loadConfig(
      { kind: "file", path: file, format: "toml" },
      { envSubst: false },
    );
    expect(warnings).toEqual([
      'servers.j.discovery.json_endpoint: host name "no-such-host.invalid" does not resolve (yet)',
    ]);
  });

  it("the artifact's --check exits 2 naming logging.output (not a stack trace and 1 at start)", () => {
    const file = write("log.toml", `[logging]\noutput = "${dir}/missing/lb.log"\n`);
    const r = spawnSync(process.execPath, [ARTIFACT, "--check", "-c", file], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("logging.output: expected a file in an existing, writable folder");
  });
});

describe("item 12: UDP sessions always end", () => {
  const udp = `[servers.dns]\nbind = "127.0.0.1:0"\nprotocol = "udp"\n[servers.dns.udp]\nmax_responses = 1\n[servers.dns.discovery]\nkind = "static"\nstatic_list = ["127.0.0.1:53"]\n`;

  it("applies a default idle timeout when none is configured, and --check prints it", () => {
    const { config } = validate(udp);
    expect(frontendSettings(config.servers.dns).clientIdleMs).toBe(30_000);
    expect(summarizeConfig(config)).toContain(
      "udp_idle=30s (default; set client_idle_timeout to change)",
    );
  });

  it("accepts a gobetween udp server with no timeouts and no limits, as gobetween does", () => {
    const bare = `[servers.dns]\nbind = "127.0.0.1:0"\nprotocol = "udp"\n[servers.dns.discovery]\nkind = "static"\nstatic_list = ["127.0.0.1:53"]\n`;
    const { config } = validate(bare);
    expect(frontendSettings(config.servers.dns).clientIdleMs).toBe(30_000);
  });

  it("keeps a configured timeout", () => {
    const { config } = validate(
      udp.replace('protocol = "udp"', 'protocol = "udp"\nclient_idle_timeout = "5s"'),
    );
    expect(frontendSettings(config.servers.dns).clientIdleMs).toBe(5000);
  });
});

describe("item 13: max_connections without an idle timeout", () => {
  it("warns at --check, naming client_idle_timeout; not when one is set", () => {
    const tcp = (extra: string) =>
      `[servers.t]\nbind = "127.0.0.1:0"\nmax_connections = 5\n${extra}[servers.t.discovery]\nkind = "static"\nstatic_list = ["a:1"]\n`;
    expect(validate(tcp("")).warnings).toEqual([
      "servers.t.max_connections: 5 with no client_idle_timeout: idle clients can hold every slot forever; set client_idle_timeout (on the server or in [defaults])",
    ]);
    expect(validate(tcp('client_idle_timeout = "1m"\n')).warnings).toEqual([]);
  });
});

describe("item 14: password files", () => {
  it("reads api and metrics passwords from files (trailing newline dropped)", async () => {
    const pw = write("api.pw", "s3cret\n");
    const mpw = write("metrics.pw", "m3trics");
    const file = write(
      "pw.toml",
      `[api]\nenabled = true\nbind = "127.0.0.1:0"\n[api.basic_auth]\nlogin = "admin"\npassword_file = "${pw}"\n[metrics]\nenabled = true\nbind = "127.0.0.1:0"\n[metrics.basic_auth]\nlogin = "prom"\npassword_file = "${mpw}"\n`,
    );
    const { config } = await loadConfig(
      { kind: "file", path: file, format: "toml" },
      { envSubst: false },
    );
    expect(config.api.basic_auth).toEqual({
      login: "admin",
      password: "s3cret",
      password_file: pw,
    });
    expect(config.metrics.basic_auth).toEqual({
      login: "prom",
      password: "m3trics",
      password_file: mpw,
    });
  });

  it("refuses a missing file, and password with password_file", async () => {
    expect(
      await problemsOf(
        `[api]\nenabled = true\nbind = "127.0.0.1:0"\n[api.basic_auth]\nlogin = "a"\npassword_file = "${dir}/none"\n`,
      ),
    ).toEqual([`api.basic_auth.password_file: cannot read "${dir}/none" (ENOENT)`]);
    expect(
      validationProblems(
        `[api]\nenabled = true\nbind = "127.0.0.1:0"\n[api.basic_auth]\nlogin = "a"\npassword = "b"\npassword_file = "/x"\n`,
      ),
    ).toEqual([
      'api.basic_auth.password_file: expected either password or password_file, not both, got "/x"',
    ]);
  });
});
