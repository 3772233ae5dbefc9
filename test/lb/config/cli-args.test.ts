import { describe, expect, it } from "vitest";
import { type CliCommand, parseCliArgs, USAGE } from "../../../lb/src/cli-args";

const file = (path: string, format: "toml" | "json" = "toml") => ({
  kind: "file" as const,
  path,
  format,
});

describe("parseCliArgs", () => {
  it.each<[string[], CliCommand]>([
    [[], { kind: "help" }],
    [["-h"], { kind: "help" }],
    [["--help"], { kind: "help" }],
    [["help"], { kind: "help" }],
    [["-c", "x.toml", "--help"], { kind: "help" }],
    [["-v"], { kind: "version" }],
    [["--version"], { kind: "version" }],
    [["-c", "x.toml", "-v"], { kind: "version" }],
    [
      ["-c", "/etc/lb.toml"],
      { kind: "run", source: file("/etc/lb.toml"), envSubst: false, check: false },
    ],
    [
      ["--config", "lb.toml"],
      { kind: "run", source: file("lb.toml"), envSubst: false, check: false },
    ],
    [["--config=lb.toml"], { kind: "run", source: file("lb.toml"), envSubst: false, check: false }],
    [["-clb.toml"], { kind: "run", source: file("lb.toml"), envSubst: false, check: false }],
    [
      ["from-file", "lb.toml"],
      { kind: "run", source: file("lb.toml"), envSubst: false, check: false },
    ],
    [
      ["from-file", "lb.json", "-f", "json", "-e"],
      { kind: "run", source: file("lb.json", "json"), envSubst: true, check: false },
    ],
    [
      ["-f", "json", "--use-config-env-vars", "from-file", "lb.json"],
      { kind: "run", source: file("lb.json", "json"), envSubst: true, check: false },
    ],
    [
      ["--format=json", "-c", "lb.json", "--check"],
      { kind: "run", source: file("lb.json", "json"), envSubst: false, check: true },
    ],
    [
      ["from-url", "http://10.0.0.1/lb.toml", "-p", "/run/lb.pid"],
      {
        kind: "run",
        source: { kind: "url", url: "http://10.0.0.1/lb.toml", format: "toml" },
        envSubst: false,
        check: false,
        pidfile: "/run/lb.pid",
      },
    ],
    [
      ["--pidfile", "/run/lb.pid", "-c", "lb.toml", "--check", "-e"],
      { kind: "run", source: file("lb.toml"), envSubst: true, check: true, pidfile: "/run/lb.pid" },
    ],
    // pflag shorthand groups (docs/lb.md promises pflag-style flags).
    [["-ec", "env.toml"], { kind: "run", source: file("env.toml"), envSubst: true, check: false }],
    [["-ecenv.toml"], { kind: "run", source: file("env.toml"), envSubst: true, check: false }],
    [["-ec=env.toml"], { kind: "run", source: file("env.toml"), envSubst: true, check: false }],
    [
      ["-ef", "json", "-c", "a.json"],
      { kind: "run", source: file("a.json", "json"), envSubst: true, check: false },
    ],
  ])("%j", (argv, expected) => {
    expect(parseCliArgs(argv)).toEqual(expected);
  });

  it.each<[string[], string]>([
    [["-c"], "flag -c needs a value"],
    [["--config"], "flag --config needs a value"],
    [["-c", "lb.toml", "-f", "yaml"], '--format must be "toml" or "json", got "yaml"'],
    [["--bogus"], "unknown flag --bogus"],
    [["-x"], "unknown flag -x"],
    [["-exc", "a.toml"], "unknown flag -x in -exc"],
    [["-ec"], "flag -c needs a value"],
    [["from-file"], "from-file takes exactly one argument (a file path)"],
    [["from-file", "a", "b"], "from-file takes exactly one argument (a file path)"],
    [
      ["from-url", "ftp://x/lb.toml"],
      'from-url needs an http:// or https:// URL, got "ftp://x/lb.toml"',
    ],
    [
      ["from-consul", "127.0.0.1:8500"],
      "from-consul is not supported by geoswarm-lb (use from-file or from-url)",
    ],
    [["-c", "a.toml", "from-file", "b.toml"], "use either -c/--config or from-file, not both"],
    [["start"], 'unknown command "start"'],
    [["--check"], "no configuration given (use -c <file>, from-file <file> or from-url <url>)"],
    [["-e"], "no configuration given (use -c <file>, from-file <file> or from-url <url>)"],
    [["--check=yes", "-c", "a"], "flag --check does not take a value"],
  ])("%j → error", (argv, message) => {
    expect(parseCliArgs(argv)).toEqual({ kind: "error", message });
  });

  it("documents every flag in USAGE", () => {
    for (const flag of [
      "-c, --config",
      "-f, --format",
      "-e, --use-config-env-vars",
      "--check",
      "-p, --pidfile",
      "-v, --version",
      "-h, --help",
      "from-file",
      "from-url",
    ]) {
      expect(USAGE).toContain(flag);
    }
  });
});
