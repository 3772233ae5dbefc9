// What a configuration needs from the host it runs on, checked before anything starts so that
// `--check` finds what start-up would (a stack trace and exit 1 at start is worse than exit 2 at
// check): password files (read here), TLS files, the log file's folder, bind addresses that are
// this host's, and host names that resolve (a warning: DNS may come up later).

import { lookup } from "node:dns/promises";
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { networkInterfaces } from "node:os";
import { dirname, resolve } from "node:path";
import {
  isIpLiteral,
  isLinkLocalOrMetadata,
  isLoopbackHost,
  isWildcardHost,
  parseHostPort,
  unbracketHost,
} from "./address";
import type { BasicAuth, LbConfig } from "./types";
import { nodeSupportsWorkers } from "./workers";

/** How long one host name may take to resolve before it is reported as not resolving. */
const LOOKUP_TIMEOUT_MS = 2000;

function readable(path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return "not a regular file";
    accessSync(path, constants.R_OK);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
}

/**
 * Opens the log file as the logger will (append, create): permission bits alone do not tell
 * (root passes every access() check, /proc refuses files). A file created here is removed.
 */
function appendable(path: string): string | undefined {
  const existed = existsSync(path);
  try {
    closeSync(openSync(path, "a", 0o640));
    if (!existed) rmSync(path, { force: true });
    return undefined;
  } catch (err) {
    return `${dirname(resolve(path))}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
}

function readPassword(key: string, auth: BasicAuth | undefined, errors: string[]): void {
  if (!auth?.password_file) return;
  try {
    // A trailing newline is what `echo` and editors add; it is never part of the password.
    auth.password = readFileSync(auth.password_file, "utf8").replace(/\r?\n$/, "");
    if (auth.password === "")
      errors.push(
        `${key}.password_file: expected a non-empty file, got ${JSON.stringify(auth.password_file)}`,
      );
  } catch (err) {
    errors.push(
      `${key}.password_file: cannot read ${JSON.stringify(auth.password_file)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
}

function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) out.add(a.address.toLowerCase());
  }
  return out;
}

function checkBind(key: string, bind: string, local: Set<string>, errors: string[]): void {
  const hp = parseHostPort(bind, true);
  if (!hp || isWildcardHost(hp.host) || isLoopbackHost(hp.host) || !isIpLiteral(hp.host)) return;
  const host = unbracketHost(hp.host).toLowerCase();
  if (isLinkLocalOrMetadata(host)) {
    errors.push(
      `${key}: expected an address other than a link-local one (it cannot be listened on without an interface), got ${JSON.stringify(bind)}`,
    );
  } else if (!local.has(host)) {
    errors.push(
      `${key}: expected an address of this host (${[...local].sort().join(", ")}) or a wildcard such as ":${hp.port}", got ${JSON.stringify(bind)}`,
    );
  }
}

async function resolves(host: string): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => {
    timer = setTimeout(() => r(false), LOOKUP_TIMEOUT_MS);
  });
  try {
    return await Promise.race([
      lookup(host).then(
        () => true,
        () => false,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Host names the servers' binds and discovery sources use (not IP literals). */
function hostNames(config: LbConfig): Array<{ key: string; host: string }> {
  const out: Array<{ key: string; host: string }> = [];
  const add = (key: string, host: string | undefined): void => {
    if (host && !isIpLiteral(unbracketHost(host)) && host.toLowerCase() !== "localhost")
      out.push({ key, host: unbracketHost(host) });
  };
  for (const [name, s] of Object.entries(config.servers)) {
    add(`servers.${name}.bind`, parseHostPort(s.bind, true)?.host);
    for (const key of ["json_endpoint", "plaintext_endpoint"]) {
      const url = s.discovery[key];
      if (typeof url === "string") add(`servers.${name}.discovery.${key}`, new URL(url).hostname);
    }
  }
  return out;
}

/**
 * Checks (and completes: password files are read into `password`) a validated configuration
 * against this host. Returns errors (start-up would fail) and warnings.
 */
export async function checkEnvironment(
  config: LbConfig,
): Promise<{ errors: string[]; warnings: string[] }> {
  const errors: string[] = [];
  const warnings: string[] = [];
  // Start-up refuses this (run.ts); --check must say so before a deploy finds out.
  if (config.workers > 1 && !nodeSupportsWorkers(process.version)) {
    errors.push(
      `workers: ${config.workers} needs Node.js >= 22.12 (listeners shared with SO_REUSEPORT); this is Node.js ${process.version} (use workers = 1, or Node.js 22.12 or later)`,
    );
  }
  readPassword("api.basic_auth", config.api.basic_auth, errors);
  readPassword("metrics.basic_auth", config.metrics.basic_auth, errors);
  if (config.api.enabled && config.api.tls) {
    for (const key of ["cert_path", "key_path"] as const) {
      const path = config.api.tls[key];
      const why = readable(path);
      if (why)
        errors.push(
          `api.tls.${key}: expected a readable file, got ${JSON.stringify(path)} (${why})`,
        );
    }
  }
  // The provider reads them at its first connection; a missing file would only show as a
  // failing fetch after start, so --check says so first.
  const docker = config.providers.docker;
  for (const key of ["tls_cert_path", "tls_key_path", "tls_cacert_path"] as const) {
    const path = docker?.[key];
    const why = path ? readable(path) : undefined;
    if (why)
      errors.push(
        `providers.docker.${key}: expected a readable file, got ${JSON.stringify(path)} (${why})`,
      );
  }
  const output = config.logging.output;
  if (output !== "stdout" && output !== "stderr") {
    const why = appendable(output);
    if (why) {
      errors.push(
        `logging.output: expected a file in an existing, writable folder, got ${JSON.stringify(output)} (${why})`,
      );
    }
  }
  const local = localAddresses();
  if (config.api.enabled) checkBind("api.bind", config.api.bind, local, errors);
  if (config.metrics.enabled) checkBind("metrics.bind", config.metrics.bind, local, errors);
  for (const [name, s] of Object.entries(config.servers))
    checkBind(`servers.${name}.bind`, s.bind, local, errors);
  const names = hostNames(config);
  const results = await Promise.all(names.map((n) => resolves(n.host)));
  names.forEach((n, i) => {
    if (!results[i])
      warnings.push(`${n.key}: host name ${JSON.stringify(n.host)} does not resolve (yet)`);
  });
  return { errors, warnings };
}
