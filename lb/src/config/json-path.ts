// gobetween's json discovery paths (gojq path syntax): dot-separated keys and [n] array indices,
// e.g. "address.ip" or "ports[0]". Parsed by the validator (a bad path is a 400 and fails
// --check) and by the json discovery source.

export type Step = string | number;

/** Parses "a.b[0].c" into ["a", "b", 0, "c"]; throws on malformed paths. */
export function parseJsonPath(pattern: string): Step[] {
  const steps: Step[] = [];
  const re = /\.?([^.[\]]+)|\[(\d+)\]/gy;
  let pos = 0;
  while (pos < pattern.length) {
    re.lastIndex = pos;
    const m = re.exec(pattern);
    if (!m) throw new Error(`invalid path ${JSON.stringify(pattern)} at offset ${pos}`);
    steps.push(m[1] !== undefined ? m[1] : Number(m[2]));
    pos = re.lastIndex;
  }
  if (steps.length === 0) throw new Error("empty path");
  return steps;
}
