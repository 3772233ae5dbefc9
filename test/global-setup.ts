import { execFileSync } from "node:child_process";

// Tests that run the shipped artifact need it fresh; building takes well under a second.
export default function setup(): void {
  execFileSync(process.execPath, ["lb/build.mjs"], { stdio: "inherit" });
}
