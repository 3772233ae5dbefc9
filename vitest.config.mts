import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Network tests bind real sockets; two cores do not gain from many parallel files.
    maxWorkers: 2,
    // `include` per project: with `extends`, a root include would be merged into each project's.
    projects: [
      // Everything, with the data path the balancer picks by itself: the native addon when
      // `npm run build:lb` built it (test/lb/native checks that it is then really used).
      { extends: true, test: { name: "all", include: ["test/**/*.test.ts"] } },
      // The data-plane suite once more on the JS path, so both paths pass it.
      {
        extends: true,
        test: {
          name: "data-plane-js",
          include: ["test/lb/proxy/**/*.test.ts", "test/lb/core/**/*.test.ts"],
          env: { GEOSWARM_LB_NATIVE: "0" },
        },
      },
    ],
  },
});
