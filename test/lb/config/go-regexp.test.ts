import { describe, expect, it } from "vitest";
import { compileGoRegexp, translateGoRegexp } from "../../../lb/src/config";

describe("compileGoRegexp (RE2 → JavaScript)", () => {
  it("translates named groups and reports their names", () => {
    const t = translateGoRegexp("^(?P<host>[^:]+):(?P<port>\\d+)$");
    expect(t.groupNames).toEqual(["host", "port"]);
    expect(compileGoRegexp("^(?P<host>[^:]+):(?P<port>\\d+)$").exec("a:1")?.groups).toEqual({
      host: "a",
      port: "1",
    });
  });

  it("translates leading flags, \\A, \\z, POSIX classes and \\Q…\\E", () => {
    expect(compileGoRegexp("(?i)^ok").test("OK")).toBe(true);
    expect(compileGoRegexp("\\Aab\\z").test("ab")).toBe(true);
    expect(compileGoRegexp("\\Aab\\z").test("ab\n")).toBe(false);
    expect(compileGoRegexp("^[[:digit:]]+$").test("123")).toBe(true);
    expect(compileGoRegexp("^\\Qa.b\\E$").test("a.b")).toBe(true);
    expect(compileGoRegexp("^\\Qa.b\\E$").test("axb")).toBe(false);
    expect(compileGoRegexp("^\\pL+$").test("héllo")).toBe(true);
  });

  it("gives \\s and \\S RE2's ASCII meaning, in and out of classes", () => {
    // RE2's \s is [\t\n\f\r ]: no vertical tab, no non-breaking space (JavaScript's has both).
    expect(compileGoRegexp("^a\\sb$").test("a b")).toBe(true);
    expect(compileGoRegexp("^a\\sb$").test("a\u00a0b")).toBe(false);
    expect(compileGoRegexp("^a\\sb$").test("a\vb")).toBe(false);
    expect(compileGoRegexp("^\\S+$").test("a\u00a0b")).toBe(true);
    expect(compileGoRegexp("^[^\\s]+$").test("a\u00a0b")).toBe(true);
    expect(compileGoRegexp("^[\\S]+$").test("a\u00a0b")).toBe(true);
    expect(compileGoRegexp("^[\\S]+$").test("a b")).toBe(false);
  });

  it("throws with the reason for invalid patterns", () => {
    expect(() => compileGoRegexp("(")).toThrow(/Unterminated group|\(/);
    expect(() => compileGoRegexp("[[:nope:]]")).toThrow("unknown POSIX class [:nope:]");
  });
});
