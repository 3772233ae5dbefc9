// A small YAML emitter for the shapes cloud-init needs (maps, lists, scalars, multi-line text).
// Single-line strings are always double-quoted (JSON escapes are valid YAML escapes), so no
// value can be misread as a number, boolean or null; multi-line text uses literal blocks.

export type YamlValue =
  | string
  | number
  | boolean
  | null
  | YamlValue[]
  | { [key: string]: YamlValue };

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

function key(k: string): string {
  return PLAIN_KEY.test(k) ? k : JSON.stringify(k);
}

function isBlock(s: string): boolean {
  // Literal blocks cannot carry a leading space/blank first line or carriage returns.
  return s.includes("\n") && !s.includes("\r") && !/^[ \n]/.test(s);
}

function scalar(v: string | number | boolean | null): string {
  if (v === null) return "null";
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error(`cannot emit ${v} as YAML`);
    return String(v);
  }
  if (typeof v === "boolean") return v ? "true" : "false";
  return JSON.stringify(v);
}

function block(s: string, indent: string): string {
  const chomp = s.endsWith("\n") ? (s.endsWith("\n\n") ? "+" : "") : "-";
  const body = (s.endsWith("\n") ? s.slice(0, -1) : s)
    .split("\n")
    .map((line) => (line === "" ? "" : indent + line))
    .join("\n");
  return `|${chomp}\n${body}`;
}

function isCollection(v: YamlValue): v is YamlValue[] | { [key: string]: YamlValue } {
  return (
    typeof v === "object" &&
    v !== null &&
    (Array.isArray(v) ? v.length > 0 : Object.keys(v).length > 0)
  );
}

function emit(v: YamlValue, indent: string): string {
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    return v
      .map((item) => {
        if (isCollection(item) && !Array.isArray(item)) {
          // "- k: v" with the following keys aligned under the first one
          return `${indent}- ${emit(item, `${indent}  `).slice(indent.length + 2)}`;
        }
        if (isCollection(item)) return `${indent}-\n${emit(item, `${indent}  `)}`;
        return `${indent}- ${inline(item, `${indent}  `)}`;
      })
      .join("\n");
  }
  if (typeof v === "object" && v !== null) {
    const entries = Object.entries(v);
    if (entries.length === 0) return "{}";
    return entries
      .map(([k, item]) => {
        if (isCollection(item)) return `${indent}${key(k)}:\n${emit(item, `${indent}  `)}`;
        return `${indent}${key(k)}: ${inline(item, `${indent}  `)}`;
      })
      .join("\n");
  }
  return inline(v, indent);
}

function inline(v: YamlValue, indent: string): string {
  if (Array.isArray(v)) return "[]";
  if (typeof v === "object" && v !== null) return "{}";
  if (typeof v === "string" && isBlock(v)) return block(v, indent);
  return scalar(v);
}

/** Emits a YAML document (no leading `---`), ending with a newline. */
export function toYaml(doc: { [key: string]: YamlValue }): string {
  return `${emit(doc, "")}\n`;
}
