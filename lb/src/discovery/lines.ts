// Text in the backend-line grammar (exec output, plaintext default): one backend per line,
// empty lines ignored, invalid lines skipped with a warning naming the line and the reason.
import { parseBackendLine } from "../config";
import type { BackendSpec } from "../config/types";
import type { Notes } from "./notes";

export function parseBackendLines(text: string, origin: string, notes: Notes): BackendSpec[] {
  const out: BackendSpec[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    try {
      out.push(parseBackendLine(line));
    } catch (err) {
      notes.note({ origin, line, reason: (err as Error).message }, "discovery: line skipped");
    }
  }
  return out;
}
