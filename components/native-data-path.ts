// What the Balancer ships of the native data path (lb/native, built by `npm run build:lb`), from
// the stack's `balancer.nativeDataPath` and what the local build produced.
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { ADDON_FILE } from "./artifact";

/** `BalancerArgs.nativeDataPath`: which data path geoswarm-lb runs on the host. */
export type NativeDataPath = "auto" | "required" | "off";
export const NATIVE_DATA_PATHS: readonly NativeDataPath[] = ["auto", "required", "off"];

/** What lb/build.mjs writes beside the addon (always, built or not). */
interface AddonManifest {
  identity: string;
  built: boolean;
  skipped?: string;
}

export interface NativePlan {
  mode: NativeDataPath;
  /** The built addon to copy to the host; none for "off" or when this machine built none. */
  file?: string;
  /**
   * What the restart key and the install's triggers hold for the addon: the mode and the addon's
   * identity (its source, build flags and ABI), never the compiler's output, so a `pulumi up` from
   * another machine (another gcc, or none) restarts nothing.
   */
  key: string;
  /** The identity the install script keeps or installs on the host (empty for "off"). */
  identity: string;
  /**
   * What the install script does with the host's addon (lbInstallScript's `addon`): `mode` and
   * `identity` above, or "off" (remove it) when there is no manifest to name an identity.
   */
  install: { mode: NativeDataPath; identity: string };
  /** GEOSWARM_LB_NATIVE in the unit: "0" (off), "1" (required), unset (auto). */
  env?: "0" | "1";
  /** For `pulumi.log.warn`: "auto" and no addon built here. */
  warning?: string;
}

const BUILD_HINT =
  "install gcc (e.g. apt-get install gcc) and run `npm run build:lb` on the machine that runs pulumi";

/**
 * Decides what to ship for `mode`, from the addon and its manifest beside `artifactPath`. Throws
 * for "required" without a built addon or without the manifest. Under "auto", no manifest (an
 * `artifactPath` built elsewhere, or before manifests existed) means no addon, with a warning.
 */
export function planNativeDataPath(
  name: string,
  mode: NativeDataPath,
  artifactPath: string,
): NativePlan {
  if (!NATIVE_DATA_PATHS.includes(mode)) {
    throw new Error(
      `Balancer ${name}: nativeDataPath must be one of ${NATIVE_DATA_PATHS.map((m) => `"${m}"`).join(", ")}, got ${JSON.stringify(mode)}`,
    );
  }
  const off = { mode: "off", identity: "" } as const;
  if (mode === "off") {
    return { mode, key: "native data path off", identity: "", install: off, env: "0" };
  }
  const file = path.join(path.dirname(artifactPath), ADDON_FILE);
  const manifestFile = `${file}.json`;
  if (!existsSync(manifestFile)) {
    const what = `no ${path.basename(manifestFile)} was found next to the artifact ${artifactPath} (the native addon's manifest that \`npm run build:lb\` writes beside geoswarm-lb.cjs, built or not)`;
    const ship = `build the artifact with \`npm run build:lb\` and keep geoswarm-lb.node and geoswarm-lb.node.json beside it`;
    if (mode === "required") {
      throw new Error(
        `Balancer ${name}: balancer.nativeDataPath is "required" but ${what}; ${ship}, or set balancer.nativeDataPath to "auto" (JS data path when there is no addon) or "off"`,
      );
    }
    // Without a manifest nothing names the addon's sources: a host's addon may not match this
    // artifact, so it goes too.
    return {
      mode,
      key: `native data path ${mode}, no manifest`,
      identity: "",
      install: off,
      warning:
        `Balancer ${name}: ${what}, so no native data-path addon is shipped and the host's is removed: the balancer runs the JS data path (slower, same behaviour). ` +
        `To ship the addon, ${ship}; to choose the JS path, set balancer.nativeDataPath to "off".`,
    };
  }
  const manifest = JSON.parse(readFileSync(manifestFile, "utf8")) as AddonManifest;
  const built = existsSync(file);
  const key = `native data path ${mode} ${manifest.identity}`;
  const plan = {
    mode,
    key,
    identity: manifest.identity,
    install: { mode, identity: manifest.identity },
  };
  if (built) return { ...plan, file, env: mode === "required" ? "1" : undefined };
  const why = manifest.skipped ?? `${file} is missing`;
  if (mode === "required") {
    throw new Error(
      `Balancer ${name}: balancer.nativeDataPath is "required" but no native addon was built at ${file} (build:lb: ${why}); ${BUILD_HINT}, or set balancer.nativeDataPath to "auto" (JS data path when there is no addon) or "off"`,
    );
  }
  return {
    ...plan,
    warning:
      `Balancer ${name}: no native data-path addon was built here (build:lb: ${why}), so none is shipped: ` +
      "a new balancer host will run the JS data path (slower, same behaviour); a host that already runs the addon built from these sources keeps it. " +
      `To ship it, ${BUILD_HINT}; to choose the JS path, set balancer.nativeDataPath to "off".`,
  };
}
