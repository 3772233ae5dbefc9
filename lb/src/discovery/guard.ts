// Discovery configs that came through the API (or its state file) and may not reach link-local
// or metadata addresses (api.allow_link_local_discovery = false). The API refuses such literal
// addresses at once (api/guard.ts); this catches a host name that resolves to one
// (169.254.169.254.nip.io), at every fetch, when the address is known.
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from "node:dns";
import { isLinkLocalOrMetadata } from "../config/address";
import type { DiscoveryConfig } from "../config/types";

const restricted = new WeakSet<DiscoveryConfig>();

/** Marks a discovery config as the API's: its fetches refuse link-local addresses. */
export function restrictDiscovery(cfg: DiscoveryConfig): void {
  restricted.add(cfg);
}

export function isRestricted(cfg: DiscoveryConfig): boolean {
  return restricted.has(cfg);
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** dns.lookup that fails for link-local and metadata addresses (a `lookup` for http.request). */
export function guardedLookup(
  hostname: string,
  options: LookupOptions,
  callback: LookupCallback,
): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, "");
    const list = addresses as LookupAddress[];
    const bad = list.find((a) => isLinkLocalOrMetadata(a.address));
    if (bad) {
      const e: NodeJS.ErrnoException = new Error(
        `${hostname} resolves to ${bad.address}, a link-local or metadata address, refused for a server created through the API (api.allow_link_local_discovery)`,
      );
      e.code = "EACCES";
      return callback(e, "");
    }
    if (options.all) return callback(null, list);
    callback(null, list[0].address, list[0].family);
  });
}
