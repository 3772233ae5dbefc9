import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";

// Tests that run the shipped artifact (and the LbServer provider, which loads lb/dist/config.cjs)
// need them fresh; building takes well under a second. The build replaces each file atomically,
// so test runs started concurrently by others never see it missing.
// A failed build does not stop the other test files: the stale files are removed, so the tests
// that run them fail with "not found" instead of testing an old build.
export default function setup(): void {
  try {
    execFileSync(process.execPath, ["lb/build.mjs"], { stdio: "inherit" });
  } catch {
    rmSync("lb/dist/geoswarm-lb.cjs", { force: true });
    rmSync("lb/dist/config.cjs", { force: true });
    process.stderr.write("global-setup: `npm run build:lb` failed; artifact tests will fail\n");
  }
}
