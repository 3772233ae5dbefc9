// Locating and hashing the geoswarm-lb artifact the Balancer ships.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";

export const LB_ARTIFACT = "lb/dist/geoswarm-lb.cjs";
/** The native data-path addon's file name, beside the artifact (lb/build.mjs builds it). */
export const ADDON_FILE = "geoswarm-lb.node";

/** The name the library is published under (package.json `name`). */
export const PACKAGE_NAME = "@geoswarm/geoswarm";

/**
 * The geoswarm package root: the nearest ancestor of `from` whose package.json is named
 * PACKAGE_NAME. Walking up from this module works both in the repository (components/ or
 * dist/components/) and in a consumer's node_modules/@geoswarm/geoswarm/dist/components, so the
 * Balancer finds the artifact shipped in the same package without any path configuration.
 */
export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, "package.json");
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, "utf8")).name === PACKAGE_NAME) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no ${PACKAGE_NAME} package.json above ${from}`);
  }
}

export const defaultArtifactPath = (): string => path.join(packageRoot(), LB_ARTIFACT);

export const sha256 = (data: string | Buffer): string =>
  createHash("sha256").update(data).digest("hex");

/** sha256 of a file; a clear error when it has not been built. */
export function fileSha256(file: string): string {
  if (!existsSync(file)) {
    throw new Error(`geoswarm-lb artifact not found at ${file}: run \`npm run build:lb\` first`);
  }
  return sha256(readFileSync(file));
}
