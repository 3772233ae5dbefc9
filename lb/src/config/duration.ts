// Go duration strings (time.ParseDuration / Duration.String), as gobetween uses them for every
// timeout and interval key.

const NS_PER_UNIT: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  "\u00b5s": 1_000n, // µ MICRO SIGN
  "\u03bcs": 1_000n, // μ GREEK SMALL LETTER MU
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

/** Go's Duration is an int64 of nanoseconds. */
const MAX_NS = (1n << 63n) - 1n;

function isDigit(c: string): boolean {
  return c >= "0" && c <= "9";
}

function invalid(orig: string, why: string): never {
  throw new Error(`invalid duration ${JSON.stringify(orig)}: ${why}`);
}

/**
 * Parses a Go duration string into nanoseconds, exactly like Go's time.ParseDuration:
 * `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, units ns, us, µs, ms, s, m, h; "0" is the only unit-less
 * value; fractions beyond nanosecond precision are truncated. Throws an Error on bad input.
 */
export function parseDurationNs(s: string): bigint {
  const orig = s;
  let neg = false;
  if (s !== "" && (s[0] === "-" || s[0] === "+")) {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0n;
  if (s === "") invalid(orig, "empty");
  let total = 0n;
  while (s !== "") {
    if (!(s[0] === "." || isDigit(s[0]))) invalid(orig, "expected a number");
    let i = 0;
    while (i < s.length && isDigit(s[i])) i++;
    const intDigits = s.slice(0, i);
    let fracDigits = "";
    if (i < s.length && s[i] === ".") {
      i++;
      const start = i;
      while (i < s.length && isDigit(s[i])) i++;
      fracDigits = s.slice(start, i);
    }
    if (intDigits === "" && fracDigits === "") invalid(orig, "expected a number");
    s = s.slice(i);
    let u = 0;
    while (u < s.length && s[u] !== "." && !isDigit(s[u])) u++;
    if (u === 0) invalid(orig, "missing unit");
    const unitName = s.slice(0, u);
    const unit = NS_PER_UNIT[unitName];
    if (unit === undefined) invalid(orig, `unknown unit ${JSON.stringify(unitName)}`);
    s = s.slice(u);
    const whole = intDigits === "" ? 0n : BigInt(intDigits);
    let v = whole * unit;
    if (fracDigits !== "") {
      // Truncate towards zero like Go (only the first digits that can matter are kept).
      const digits = fracDigits.slice(0, 30);
      v += (BigInt(digits) * unit) / 10n ** BigInt(digits.length);
    }
    total += v;
    if (total > MAX_NS + (neg ? 1n : 0n)) invalid(orig, "out of range");
  }
  return neg ? -total : total;
}

/**
 * Parses a Go duration string (see parseDurationNs) into milliseconds; the result may be
 * fractional ("1.5us" → 0.0015) and negative ("-1s" → -1000). Throws an Error on bad input.
 */
export function parseDuration(s: string): number {
  const ns = parseDurationNs(s);
  const ms = ns / 1_000_000n;
  const rest = ns % 1_000_000n;
  return Number(ms) + Number(rest) / 1e6;
}

/** True when `s` is a valid Go duration string. */
export function isDuration(s: string): boolean {
  try {
    parseDurationNs(s);
    return true;
  } catch {
    return false;
  }
}

/** Digits of v / 10^prec with trailing zeros (and the point, if nothing is left) removed. */
function fmtFrac(v: bigint, prec: number): { frac: string; rest: bigint } {
  let frac = "";
  let printed = false;
  for (let i = 0; i < prec; i++) {
    const digit = v % 10n;
    printed = printed || digit !== 0n;
    if (printed) frac = digit.toString() + frac;
    v /= 10n;
  }
  return { frac: printed ? `.${frac}` : "", rest: v };
}

/**
 * Formats a duration in milliseconds (rounded to whole nanoseconds) like Go's
 * Duration.String(): 0 → "0s", 1.5 → "1.5ms", 90000 → "1m30s", 3600000 → "1h0m0s".
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new Error(`cannot format duration ${ms}`);
  let ns = BigInt(Math.round(ms * 1e6));
  const neg = ns < 0n;
  if (neg) ns = -ns;
  let out: string;
  if (ns === 0n) return "0s";
  if (ns < 1_000_000_000n) {
    let prec: number;
    let unit: string;
    if (ns < 1_000n) {
      prec = 0;
      unit = "ns";
    } else if (ns < 1_000_000n) {
      prec = 3;
      unit = "\u00b5s";
    } else {
      prec = 6;
      unit = "ms";
    }
    const { frac, rest } = fmtFrac(ns, prec);
    out = `${rest}${frac}${unit}`;
  } else {
    const { frac, rest } = fmtFrac(ns, 9);
    let u = rest;
    out = `${u % 60n}${frac}s`;
    u /= 60n;
    if (u > 0n) {
      out = `${u % 60n}m${out}`;
      u /= 60n;
      if (u > 0n) out = `${u}h${out}`;
    }
  }
  return neg ? `-${out}` : out;
}
