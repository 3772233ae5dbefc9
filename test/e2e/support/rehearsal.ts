// The rehearsal (scripts/rehearsal) for e2e tests: the program is imported afresh for each run,
// so a test file may vi.mock a component module (e.g. to remove a planned flow on purpose).
import { vi } from "vitest";
import { Rehearsal } from "../../../scripts/rehearsal/rehearsal";

export async function startRehearsal(log: (line: string) => void = () => {}): Promise<Rehearsal> {
  return Rehearsal.start({
    log,
    loadProgram: async () => {
      vi.resetModules();
      return import("../../../index");
    },
  });
}
