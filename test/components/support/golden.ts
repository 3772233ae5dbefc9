// Golden files under test/components/golden/. UPDATE_GOLDEN=1 rewrites them.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { expect } from "vitest";

export const GOLDEN_DIR = path.resolve(__dirname, "../golden");

export function expectGolden(name: string, actual: string): void {
  const file = path.join(GOLDEN_DIR, name);
  if (process.env.UPDATE_GOLDEN === "1") {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  if (!existsSync(file)) {
    throw new Error(
      `golden file ${name} is missing: run UPDATE_GOLDEN=1 npx vitest run test/components`,
    );
  }
  expect(actual, `differs from golden ${name} (UPDATE_GOLDEN=1 to accept)`).toBe(
    readFileSync(file, "utf8"),
  );
}
