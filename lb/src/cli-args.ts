// Command-line parsing, compatible with gobetween's CLI (cobra/pflag flag syntax):
//   geoswarm-lb -c FILE | --config FILE | from-file FILE | from-url URL
//   [-f|--format toml|json] [-e|--use-config-env-vars] [-p|--pidfile FILE] [--check]
//   -v|--version   -h|--help
// Flags may come before or after the subcommand; `--flag=value` and `-fvalue` forms work too,
// and shorthands combine as in pflag (`-ec FILE`: booleans first, at most one value flag last).
// No arguments at all prints the help (as gobetween does).
import { URL_TIMEOUT_MS } from "./config/load";
import type { ConfigSource } from "./config/types";

export type CliCommand =
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "run"; source: ConfigSource; envSubst: boolean; check: boolean; pidfile?: string }
  | { kind: "error"; message: string };

export const USAGE = `geoswarm-lb - an L4 (TCP/UDP) load balancer compatible with gobetween's configuration

Usage:
  geoswarm-lb -c <config-file> [flags]
  geoswarm-lb from-file <config-file> [flags]
  geoswarm-lb from-url <url> [flags]

Flags:
  -c, --config <path>           configuration file (same as from-file <path>)
  -f, --format <toml|json>      configuration format (default "toml")
  -e, --use-config-env-vars     replace \${NAME} in the configuration with environment variables
                                (unset variables become empty)
      --check                   validate the configuration, print a summary and exit
                                (exit status 0 when valid, 2 when not)
  -p, --pidfile <path>          write the process id to this file
  -v, --version                 print the version and exit
  -h, --help                    print this help and exit

from-url fetches the configuration with an HTTP GET (${URL_TIMEOUT_MS / 1000} s timeout; a non-2xx status is an error).
`;

type ValueFlag = "config" | "format" | "pidfile";
type BoolFlag = "env" | "check" | "version" | "help";

const LONG: Record<string, ValueFlag | BoolFlag> = {
  config: "config",
  format: "format",
  pidfile: "pidfile",
  "use-config-env-vars": "env",
  check: "check",
  version: "version",
  help: "help",
};
const SHORT: Record<string, ValueFlag | BoolFlag> = {
  c: "config",
  f: "format",
  p: "pidfile",
  e: "env",
  v: "version",
  h: "help",
};
const VALUE_FLAGS = new Set<string>(["config", "format", "pidfile"]);

/** Parses the arguments after the program name (process.argv.slice(2)). */
export function parseCliArgs(argv: string[]): CliCommand {
  if (argv.length === 0) return { kind: "help" };
  const values: Partial<Record<ValueFlag, string>> = {};
  const bools = new Set<BoolFlag>();
  const positional: string[] = [];

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    let flag: ValueFlag | BoolFlag | undefined;
    let inline: string | undefined;
    let shown = arg;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      if (eq >= 0) inline = arg.slice(eq + 1);
      shown = `--${name}`;
      flag = LONG[name];
    } else if (arg.startsWith("-") && arg.length > 1) {
      let name = arg[1];
      shown = `-${name}`;
      flag = SHORT[name];
      if (arg.length > 2) inline = arg[2] === "=" ? arg.slice(3) : arg.slice(2);
      // pflag shorthand groups: boolean flags combine (-ev), and a value flag may end the group,
      // its value being the rest of the argument or the next one (-ec FILE, -ecFILE).
      if (flag && !VALUE_FLAGS.has(flag) && inline !== undefined && arg[2] !== "=") {
        let j = 1;
        for (; j < arg.length; j++) {
          const f = SHORT[arg[j]];
          if (!f) return { kind: "error", message: `unknown flag -${arg[j]} in ${arg}` };
          if (VALUE_FLAGS.has(f)) break;
          bools.add(f as BoolFlag);
        }
        if (j === arg.length) continue;
        name = arg[j];
        shown = `-${name}`;
        flag = SHORT[name];
        inline = j + 1 < arg.length ? arg.slice(arg[j + 1] === "=" ? j + 2 : j + 1) : undefined;
      }
    } else {
      positional.push(arg);
      continue;
    }
    if (!flag) return { kind: "error", message: `unknown flag ${shown}` };
    if (VALUE_FLAGS.has(flag)) {
      let value = inline;
      if (value === undefined) {
        if (i + 1 >= argv.length) return { kind: "error", message: `flag ${shown} needs a value` };
        value = argv[++i];
      }
      values[flag as ValueFlag] = value;
    } else {
      if (inline !== undefined && inline !== "true") {
        return { kind: "error", message: `flag ${shown} does not take a value` };
      }
      bools.add(flag as BoolFlag);
    }
  }

  if (bools.has("help") || positional[0] === "help") return { kind: "help" };
  if (bools.has("version")) return { kind: "version" };

  const format = values.format ?? "toml";
  if (format !== "toml" && format !== "json") {
    return {
      kind: "error",
      message: `--format must be "toml" or "json", got ${JSON.stringify(format)}`,
    };
  }

  let source: ConfigSource | undefined;
  const [command, ...rest] = positional;
  if (command !== undefined) {
    if (values.config !== undefined) {
      return { kind: "error", message: `use either -c/--config or ${command}, not both` };
    }
    if (command === "from-file" || command === "from-url") {
      if (rest.length !== 1) {
        const what = command === "from-file" ? "a file path" : "a URL";
        return { kind: "error", message: `${command} takes exactly one argument (${what})` };
      }
      if (command === "from-file") source = { kind: "file", path: rest[0], format };
      else {
        if (!/^https?:\/\//i.test(rest[0])) {
          return {
            kind: "error",
            message: `from-url needs an http:// or https:// URL, got ${JSON.stringify(rest[0])}`,
          };
        }
        source = { kind: "url", url: rest[0], format };
      }
    } else if (command === "from-consul") {
      return {
        kind: "error",
        message: "from-consul is not supported by geoswarm-lb (use from-file or from-url)",
      };
    } else {
      return { kind: "error", message: `unknown command ${JSON.stringify(command)}` };
    }
  } else if (values.config !== undefined) {
    if (values.config === "") return { kind: "error", message: "-c/--config needs a file path" };
    source = { kind: "file", path: values.config, format };
  }

  if (!source) {
    // gobetween prints the help when no config is given; flags without a config are a mistake.
    return {
      kind: "error",
      message: "no configuration given (use -c <file>, from-file <file> or from-url <url>)",
    };
  }
  const cmd: CliCommand = {
    kind: "run",
    source,
    envSubst: bools.has("env"),
    check: bools.has("check"),
  };
  if (values.pidfile !== undefined) {
    if (values.pidfile === "") return { kind: "error", message: "-p/--pidfile needs a file path" };
    cmd.pidfile = values.pidfile;
  }
  return cmd;
}
