// Every Markdown table in the repository's docs renders with as many cells in each row as in its
// header: an unescaped `|` inside a cell (e.g. `"allow <ip|cidr>"`) silently cuts the row short
// on GitHub (markdown-it and GFM drop the extra cells). Escape it as `\|`.
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ROOT, readDoc, tables } from "./support/markdown";

const docs = execFileSync("git", ["ls-files", "*.md"], { cwd: ROOT, encoding: "utf8" })
  .split("\n")
  .filter(Boolean);

describe("Markdown tables", () => {
  it("finds the docs and their tables", () => {
    expect(docs).toEqual(expect.arrayContaining(["README.md", "docs/lb.md", "docs/api.md"]));
    expect(tables(readDoc("docs/lb.md")).length).toBeGreaterThan(10);
  });

  it.each(docs)("%s: every row has its header's cell count", (path) => {
    const bad = tables(readDoc(path)).flatMap((t) =>
      t.rows
        .filter((r) => r.cells !== t.header)
        .map((r) => `${path}:${r.line}: ${r.cells} cells, header has ${t.header}: ${r.text}`),
    );
    expect(bad).toEqual([]);
  });
});
