// Reading the docs as a newcomer does: the fenced shell blocks under a heading, and the tables
// as a GFM renderer splits them (markdown-it finds them; cells are split on unescaped pipes,
// which is GFM's rule even inside code spans).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import MarkdownIt from "markdown-it";

export const ROOT = resolve(__dirname, "../../..");

const md = new MarkdownIt();

export function readDoc(path: string): string {
  return readFileSync(resolve(ROOT, path), "utf8");
}

/** The fenced code blocks (their lines) between `heading` and the next heading of any level. */
export function blocksUnder(text: string, heading: string): string[][] {
  const tokens = md.parse(text, {});
  const start = tokens.findIndex(
    (t, i) => t.type === "heading_open" && tokens[i + 1]?.content === heading,
  );
  if (start < 0) throw new Error(`no heading ${JSON.stringify(heading)}`);
  const blocks: string[][] = [];
  for (let i = start + 3; i < tokens.length && tokens[i].type !== "heading_open"; i++) {
    if (tokens[i].type === "fence") blocks.push(tokens[i].content.trimEnd().split("\n"));
  }
  return blocks;
}

/** GFM cell count of one table line: outer pipes dropped, split on pipes not escaped. */
function cellCount(line: string): number {
  const body = line
    .trim()
    .replace(/^\|/, "")
    .replace(/(?<!\\)\|$/, "");
  return body.split(/(?<!\\)\|/).length;
}

export interface TableRow {
  line: number;
  text: string;
  cells: number;
}

/** Every table of a Markdown text: its header's cell count and every body row's. */
export function tables(text: string): { line: number; header: number; rows: TableRow[] }[] {
  const lines = text.split("\n");
  return md
    .parse(text, {})
    .filter((t) => t.type === "table_open" && t.map)
    .map((t) => {
      const [from, to] = t.map as [number, number];
      const body = lines.slice(from + 2, to);
      // GFM ends a table at an HTML block (`<!-- marker -->`); markdown-it keeps it as a row.
      const end = body.findIndex((l) => /^\s*</.test(l));
      const rows = body
        .slice(0, end < 0 ? body.length : end)
        .map((l, i) => ({ line: from + 3 + i, text: l, cells: cellCount(l) }));
      return { line: from + 1, header: cellCount(lines[from]), rows };
    });
}
