import { describe, expect, it } from "vitest";
import { decodeGoString } from "../../../lb/src/config/go-string";

const hex = (s: string, strict = false) => decodeGoString(s, { strict }).toString("hex");

describe("decodeGoString", () => {
  it("passes plain text through as UTF-8", () => {
    expect(decodeGoString("PING").toString()).toBe("PING");
    expect(decodeGoString("héllo ✓").toString("utf8")).toBe("héllo ✓");
    expect(decodeGoString("").length).toBe(0);
  });

  it("decodes the single-character escapes", () => {
    expect(hex("\\a\\b\\f\\n\\r\\t\\v\\\\\\\"\\'")).toBe("07080c0a0d090b5c2227");
  });

  it("decodes \\x, octal, \\u and \\U", () => {
    expect(hex("\\x00\\xff\\xAb")).toBe("00ffab");
    expect(hex("\\000\\377\\101")).toBe("00ff41");
    expect(hex("\\u00e9")).toBe("c3a9");
    expect(hex("\\U0001F600")).toBe("f09f9880");
    expect(hex("a\\x01b\\nc")).toBe("610162" + "0a63");
  });

  it("writes \\x bytes raw (not UTF-8 encoded)", () => {
    const b = decodeGoString("\\x80\\xc3");
    expect([...b]).toEqual([0x80, 0xc3]);
  });

  it("decodes a realistic probe", () => {
    expect(decodeGoString("GET / HTTP/1.0\\r\\n\\r\\n").toString()).toBe("GET / HTTP/1.0\r\n\r\n");
  });

  it.each([
    ["\\", /offset 0.*lone backslash/],
    ["ab\\q", /offset 2.*unknown escape sequence \\q/],
    ["\\x1", /offset 0.*\\x needs exactly 2 hex digits/],
    ["\\xg0", /\\x needs exactly 2 hex digits/],
    ["\\u12", /\\u needs exactly 4 hex digits/],
    ["\\U0011ffff", /above U\+10FFFF/],
    ["\\ud800", /surrogate/],
    ["\\400", /octal escape value 256/],
    ["\\12", /3 octal digits/],
    ["\\8", /unknown escape/],
  ])("rejects %j", (input, re) => {
    expect(() => decodeGoString(input)).toThrow(re);
  });

  it("strict mode rejects what Go's strconv.Unquote rejects", () => {
    expect(() => decodeGoString('a"b', { strict: true })).toThrow(/offset 1.*unescaped "/);
    expect(() => decodeGoString("a\nb", { strict: true })).toThrow(/raw newline/);
    expect(() => decodeGoString("\\'", { strict: true })).toThrow(/\\' is not allowed/);
    expect(decodeGoString('a"b').toString()).toBe('a"b');
    expect(hex('\\"', true)).toBe("22");
  });
});
