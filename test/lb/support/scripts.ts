import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";

/**
 * A temporary directory, removed after the calling test file, and `script(name, body)`, which
 * writes an executable `#!/bin/sh` script there and returns its path. Call at the file's top level.
 */
export function scriptDir(prefix: string): {
  dir: string;
  script: (name: string, body: string) => string;
} {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const script = (name: string, body: string): string => {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  };
  return { dir, script };
}
