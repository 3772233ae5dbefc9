import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";

// Tests that run the shipped artifact (and the LbServer provider, which loads lb/dist/config.cjs)
// need them fresh; building takes well under a second.
// A failed build does not stop the other test files: the stale artifact is removed first, so the
// tests that run it fail with "not found" instead of testing an old build.
export default function setup(): void {
  rmSync("lb/dist/geoswarm-lb.cjs", { force: true });
  rmSync("lb/dist/config.cjs", { force: true });
  try {
    execFileSync(process.execPath, ["lb/build.mjs"], { stdio: "inherit" });
  } catch {
    process.stderr.write("global-setup: `npm run build:lb` failed; artifact tests will fail\n");
  }
}
