// Which binds collide, and how a failed listen is answered to an API client.
import { isLoopbackHost, isWildcardHost, parseHostPort } from "../config/address";
import type { ServerConfig } from "../config/types";
import { ChangeError } from "./change-error";

/** Whether two TCP binds would take the same socket (same port; equal, wildcard or loopback). */
export function samePort(a: string, b: string): boolean {
  const ha = parseHostPort(a, true);
  const hb = parseHostPort(b, true);
  if (!ha || !hb || ha.port === 0 || ha.port !== hb.port) return false;
  const x = ha.host.toLowerCase();
  const y = hb.host.toLowerCase();
  return (
    x === y ||
    isWildcardHost(x) ||
    isWildcardHost(y) ||
    (isLoopbackHost(x) && isLoopbackHost(y) && (x === "localhost" || y === "localhost"))
  );
}

export function bindError(cfg: ServerConfig, err: NodeJS.ErrnoException): Error {
  if (err.code === "EADDRINUSE") return new ChangeError(409, `bind: ${cfg.bind} is already in use`);
  if (err.code === "EADDRNOTAVAIL" || err.code === "EACCES" || err.code === "ENOTFOUND") {
    return new ChangeError(400, `bind: cannot listen on ${cfg.bind}: ${err.code}`);
  }
  return err;
}

/** The port of a bind ("host:port"), or undefined. */
export function portOf(bind: string): number | undefined {
  return parseHostPort(bind, true)?.port;
}
