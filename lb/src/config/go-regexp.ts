// Go (RE2) regular expressions, as gobetween compiles them for `plaintext_regex_pattern` and the
// `regexp` probe strategy, translated to JavaScript RegExp.
//
// Translated: named groups `(?P<name>…)`, leading flag groups `(?i)` `(?m)` `(?s)`, `\A` and
// `\z`, POSIX classes inside brackets (`[[:alpha:]]`), `\Q…\E` literals, one-letter Unicode
// classes `\pL` / `\PN`. Everything else is passed to RegExp unchanged; RE2 and JavaScript agree
// on the common syntax. JavaScript accepts a few things RE2 rejects (look-around,
// back-references); those are not rejected here.

const POSIX_CLASSES: Record<string, string> = {
  alnum: "0-9A-Za-z",
  alpha: "A-Za-z",
  ascii: "\\x00-\\x7F",
  blank: "\\t ",
  cntrl: "\\x00-\\x1F\\x7F",
  digit: "0-9",
  graph: "!-~",
  lower: "a-z",
  print: " -~",
  punct: "!-/:-@[-`{-~",
  space: "\\t\\n\\v\\f\\r ",
  upper: "A-Z",
  word: "0-9A-Za-z_",
  xdigit: "0-9A-Fa-f",
};

function escapeLiteral(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&");
}

export interface TranslatedRegexp {
  source: string;
  flags: string;
  /** Names of the named capture groups, in order. */
  groupNames: string[];
}

/** Translates RE2 syntax to a JavaScript RegExp source and flags (see the file comment). */
/** RE2's \s: ASCII space, \t, \n, \f, \r (JavaScript's also takes \v and Unicode spaces). */
export const RE2_SPACE = "\\t\\n\\f\\r ";
/** RE2's \S inside a character class (astral characters only without the u flag). */
const RE2_NON_SPACE_IN_CLASS = "\\x00-\\x08\\x0B\\x0E-\\x1F!-\\uFFFF";

export function translateGoRegexp(pattern: string): TranslatedRegexp {
  const flags = new Set<string>();
  let p = pattern;
  const lead = /^\(\?([a-zA-Z]+)\)/.exec(p);
  if (lead) {
    for (const f of lead[1]) {
      if (f === "i" || f === "m" || f === "s") flags.add(f);
      else throw new Error(`unsupported flag ${JSON.stringify(f)} in ${lead[0]}`);
    }
    p = p.slice(lead[0].length);
  }
  let out = "";
  let inClass = false;
  const groupNames: string[] = [];
  let i = 0;
  while (i < p.length) {
    const c = p[i];
    if (c === "\\") {
      const e = p[i + 1];
      if (e === undefined) throw new Error("trailing backslash");
      if (e === "Q") {
        const end = p.indexOf("\\E", i + 2);
        const lit = end < 0 ? p.slice(i + 2) : p.slice(i + 2, end);
        out += escapeLiteral(lit);
        i = end < 0 ? p.length : end + 2;
        continue;
      }
      if (e === "s" || e === "S") {
        if (inClass) out += e === "s" ? RE2_SPACE : RE2_NON_SPACE_IN_CLASS;
        else out += e === "s" ? `[${RE2_SPACE}]` : `[^${RE2_SPACE}]`;
        i += 2;
        continue;
      }
      if (!inClass && e === "A") {
        out += "(?<![\\s\\S])";
        i += 2;
        continue;
      }
      if (!inClass && e === "z") {
        out += "(?![\\s\\S])";
        i += 2;
        continue;
      }
      if ((e === "p" || e === "P") && p[i + 2] !== "{" && p[i + 2] !== undefined) {
        out += `\\${e}{${p[i + 2]}}`;
        flags.add("u");
        i += 3;
        continue;
      }
      if (e === "p" || e === "P") flags.add("u");
      out += c + e;
      i += 2;
      continue;
    }
    if (inClass) {
      if (c === "[" && p[i + 1] === ":") {
        const m = /^\[:(\^?)([a-z]+):\]/.exec(p.slice(i));
        if (m) {
          const cls = POSIX_CLASSES[m[2]];
          if (cls === undefined) throw new Error(`unknown POSIX class [:${m[2]}:]`);
          if (m[1] === "^") throw new Error(`negated POSIX class ${m[0]} is not supported`);
          out += cls;
          i += m[0].length;
          continue;
        }
      }
      if (c === "]") inClass = false;
      out += c;
      i++;
      continue;
    }
    if (c === "[") {
      inClass = true;
      out += c;
      i++;
      // A leading "]" (or "^]") is a literal in RE2.
      if (p[i] === "^") {
        out += "^";
        i++;
      }
      if (p[i] === "]") {
        out += "\\]";
        i++;
      }
      continue;
    }
    if (c === "(" && p.startsWith("(?P<", i)) {
      const m = /^\(\?P<([A-Za-z_][A-Za-z0-9_]*)>/.exec(p.slice(i));
      if (!m) throw new Error("invalid named capture group");
      groupNames.push(m[1]);
      out += `(?<${m[1]}>`;
      i += m[0].length;
      continue;
    }
    if (
      c === "(" &&
      p.startsWith("(?<", i) &&
      !p.startsWith("(?<=", i) &&
      !p.startsWith("(?<!", i)
    ) {
      const m = /^\(\?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(p.slice(i));
      if (m) groupNames.push(m[1]);
    }
    out += c;
    i++;
  }
  return { source: out, flags: [...flags].sort().join(""), groupNames };
}

/**
 * Compiles a Go (RE2) regular expression into a JavaScript RegExp. Throws an Error with the
 * reason when the pattern is not valid.
 */
export function compileGoRegexp(pattern: string): RegExp {
  return compileTranslated(translateGoRegexp(pattern));
}

/** Compiles a translation; the error names the reason without JavaScript's prefix. */
export function compileTranslated(t: TranslatedRegexp): RegExp {
  try {
    return new RegExp(t.source, t.flags);
  } catch (err) {
    throw new Error((err as Error).message.replace(/^Invalid regular expression: /, ""));
  }
}
