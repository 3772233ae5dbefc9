// User-supplied regular expressions (plaintext_regex_pattern, the regexp probe strategy) run on
// re2js, a port of RE2: matching takes time linear in the input, whatever the pattern, so a
// pattern sent through the API cannot freeze the process (JavaScript's RegExp backtracks:
// `(a+)+$` against 28 bytes took 10 s). It is also gobetween's engine (Go's regexp is RE2), so
// the syntax is the same: `(?P<name>…)`, `(?i)`, `\A`, `\z`, `[[:alpha:]]`, `\Q…\E`, `\pL`;
// look-around and back-references are refused, as RE2 refuses them.
import { RE2JS } from "re2js";

export interface Re2 {
  /** Names of the named capture groups. */
  readonly groupNames: string[];
  /** Unanchored search; the named groups that took part in the match, or null. */
  exec(input: string): Record<string, string> | null;
  test(input: string): boolean;
}

/** Compiles an RE2 pattern; throws an Error naming the reason when it is not valid. */
export function compileRe2(pattern: string): Re2 {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    throw new Error((err as Error).message.replace(/^error parsing regexp: /, ""));
  }
  const groupNames = Object.keys(re.namedGroups());
  return {
    groupNames,
    exec(input) {
      const m = re.matcher(input);
      if (!m.find()) return null;
      const out: Record<string, string> = Object.create(null);
      for (const name of groupNames) {
        const v = m.group(name);
        if (v !== null) out[name] = v;
      }
      return out;
    },
    test: (input) => re.matcher(input).find(),
  };
}
