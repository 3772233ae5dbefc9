// Decoding of Go double-quoted string escapes, as gobetween applies them (strconv.Unquote) to
// healthcheck `probe_send` / `probe_recv`.
//
// Escapes: \a \b \f \n \r \t \v \\ \" \' ; \xNN (exactly 2 hex digits, one raw byte);
// \NNN (exactly 3 octal digits, value <= 255, one raw byte); \uNNNN and \UNNNNNNNN (a Unicode
// code point, written as UTF-8; surrogates and values above U+10FFFF are rejected).
// Every other character is written as UTF-8.
//
// By default the decoder is a lenient superset of Go: it also accepts `\'`, an unescaped `"` and
// a raw newline, all of which Go's strconv.Unquote rejects for a double-quoted string. Pass
// `{ strict: true }` to reject those three exactly as Go does.

export interface DecodeGoStringOptions {
  /** Reject `\'`, an unescaped `"` and a raw newline, exactly like Go's strconv.Unquote. */
  strict?: boolean;
}

const SIMPLE_ESCAPES: Record<string, number> = {
  a: 0x07,
  b: 0x08,
  f: 0x0c,
  n: 0x0a,
  r: 0x0d,
  t: 0x09,
  v: 0x0b,
  "\\": 0x5c,
  '"': 0x22,
  "'": 0x27,
};

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

function fail(s: string, offset: number, reason: string): never {
  const shown = JSON.stringify(s.slice(offset, offset + 10));
  throw new Error(`invalid Go string escape at offset ${offset} (${shown}): ${reason}`);
}

/**
 * Decodes the body of a Go double-quoted string literal (without the surrounding quotes) into
 * bytes. Throws an Error naming the offending escape and its offset (in UTF-16 code units of `s`).
 */
export function decodeGoString(s: string, opts: DecodeGoStringOptions = {}): Buffer {
  if (s.indexOf("\\") < 0 && !(opts.strict && /["\n]/.test(s))) return Buffer.from(s, "utf8");

  const parts: Buffer[] = [];
  let bytes: number[] = [];
  const flushBytes = (): void => {
    if (bytes.length > 0) {
      parts.push(Buffer.from(bytes));
      bytes = [];
    }
  };
  let runStart = 0;
  const flushRun = (end: number): void => {
    if (end > runStart) {
      flushBytes();
      parts.push(Buffer.from(s.slice(runStart, end), "utf8"));
    }
  };

  let i = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c !== 0x5c /* \ */) {
      if (opts.strict && c === 0x22) fail(s, i, 'unescaped " (write \\")');
      if (opts.strict && c === 0x0a) fail(s, i, "raw newline (write \\n)");
      i++;
      continue;
    }
    flushRun(i);
    const start = i;
    if (i + 1 >= s.length) fail(s, start, "lone backslash at end of string");
    const e = s[i + 1];
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      if (opts.strict && e === "'") fail(s, start, "\\' is not allowed in a double-quoted string");
      bytes.push(simple);
      i += 2;
    } else if (e === "x" || e === "u" || e === "U") {
      const n = e === "x" ? 2 : e === "u" ? 4 : 8;
      let v = 0;
      for (let k = 0; k < n; k++) {
        const p = i + 2 + k;
        const h = p < s.length ? hexValue(s.charCodeAt(p)) : -1;
        if (h < 0) fail(s, start, `\\${e} needs exactly ${n} hex digits`);
        v = v * 16 + h;
      }
      if (e === "x") {
        bytes.push(v);
      } else {
        if (v > 0x10ffff) fail(s, start, `\\${e} code point ${v.toString(16)} is above U+10FFFF`);
        if (v >= 0xd800 && v <= 0xdfff) {
          fail(s, start, `\\${e} code point ${v.toString(16)} is a surrogate`);
        }
        flushBytes();
        parts.push(Buffer.from(String.fromCodePoint(v), "utf8"));
      }
      i += 2 + n;
    } else if (e >= "0" && e <= "7") {
      let v = 0;
      for (let k = 0; k < 3; k++) {
        const p = i + 1 + k;
        const d = p < s.length ? s.charCodeAt(p) - 0x30 : -1;
        if (d < 0 || d > 7) fail(s, start, "octal escape needs exactly 3 octal digits");
        v = v * 8 + d;
      }
      if (v > 255) fail(s, start, `octal escape value ${v} is above 255`);
      bytes.push(v);
      i += 4;
    } else {
      fail(s, start, `unknown escape sequence \\${e}`);
    }
    runStart = i;
  }
  flushRun(s.length);
  flushBytes();
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}
