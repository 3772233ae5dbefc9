declare const GEOSWARM_LB_VERSION: string | undefined;

/** Injected by lb/build.mjs; "dev" when running from sources. */
export const VERSION: string =
  typeof GEOSWARM_LB_VERSION === "string" ? GEOSWARM_LB_VERSION : "dev";
