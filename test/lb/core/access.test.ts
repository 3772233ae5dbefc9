// The access check's IPv4 fast path (integer ranges, hand-parsed dotted quads) must decide exactly
// as the ipaddr.js path it short-cuts.
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { describe, expect, it } from "vitest";
import { AccessList, parseDottedQuad } from "../../../lb/src/core/access";

/** The reference: ipaddr.js only, first match wins (the pre-fast-path algorithm). */
function reference(defaultAllow: boolean, rules: string[], ip: string): boolean {
  const addr = ipaddr.process(ip);
  for (const rule of rules) {
    const [verb, target] = rule.split(" ");
    const range = target.includes("/")
      ? ipaddr.parseCIDR(target)
      : ([ipaddr.process(target), 32] as [ipaddr.IPv4, number]);
    if (range[0].kind() === addr.kind() && addr.match(range as never)) return verb === "allow";
  }
  return defaultAllow;
}

const octets = fc.tuple(
  fc.integer({ min: 0, max: 255 }),
  fc.integer({ min: 0, max: 255 }),
  fc.integer({ min: 0, max: 255 }),
  fc.integer({ min: 0, max: 255 }),
);
const ipv4 = octets.map((o) => o.join("."));
const rule = fc
  .tuple(fc.boolean(), octets, fc.option(fc.integer({ min: 0, max: 32 })))
  .map(
    ([allow, o, prefix]) =>
      `${allow ? "allow" : "deny"} ${o.join(".")}${prefix === null ? "" : `/${prefix}`}`,
  );

describe("access list IPv4 fast path", () => {
  it("parses canonical dotted quads and rejects everything else", () => {
    expect(parseDottedQuad("127.0.0.1")).toBe(0x7f000001);
    expect(parseDottedQuad("255.255.255.255")).toBe(0xffffffff);
    expect(parseDottedQuad("0.0.0.0")).toBe(0);
    for (const bad of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "256.1.1.1",
      "01.2.3.4",
      "1..2.3",
      "::1",
      "1.2.3.4 ",
      "a.b.c.d",
    ])
      expect(parseDottedQuad(bad)).toBe(-1);
  });

  it("decides as ipaddr.js for random rules and addresses", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(rule, { maxLength: 6 }),
        ipv4,
        (defaultAllow, rules, ip) => {
          const list = new AccessList({ default: defaultAllow ? "allow" : "deny", rules });
          expect(list.allows(ip)).toBe(reference(defaultAllow, rules, ip));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("keeps IPv6 rules and non-canonical IPv4 text on the ipaddr.js path", () => {
    const list = new AccessList({
      default: "deny",
      rules: ["allow ::1", "allow 10.0.0.0/8", "deny ::/0"],
    });
    expect(list.allows("::1")).toBe(true);
    expect(list.allows("10.1.2.3")).toBe(true);
    expect(list.allows("010.1.2.3")).toBe(false); // octal 010 = 8: not in 10.0.0.0/8
    expect(list.allows("2001:db8::1")).toBe(false);
    expect(list.allows("not an ip")).toBe(false);
  });
});
