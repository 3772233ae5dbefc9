// Pure helpers: CIDR math, the machine/firewall plan, and the YAML emitter (round-tripped through
// PyYAML, cloud-init's parser, with generated documents).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseClusterSpec } from "../../../components/config";
import {
  MAX_RULES_PER_GROUP,
  planFirewall,
  planMachines,
  rulesPerGroup,
} from "../../../components/plan";
import { overlappingCidrs, parseCidr, publicSubnetCidr } from "../../../components/render/net";
import { shq } from "../../../components/render/scripts";
import { toYaml, type YamlValue } from "../../../components/render/yaml";
import { prodConfig } from "../support/stack";
import { parseYamlMany } from "../support/tools";

describe("CIDR helpers", () => {
  it("parses network CIDRs only", () => {
    expect(parseCidr("10.10.0.0/16")).toEqual({ base: 0x0a0a0000, prefix: 16 });
    expect(parseCidr("10.10.0.1/16")).toBeUndefined();
    expect(parseCidr("256.0.0.0/8")).toBeUndefined();
    expect(parseCidr("10.0.0.0/33")).toBeUndefined();
  });
  it("finds overlaps and derives the public subnet", () => {
    expect(overlappingCidrs(["10.0.0.0/8", "192.168.0.0/16", "10.20.0.0/16"])).toEqual([[0, 2]]);
    expect(publicSubnetCidr("10.20.0.0/16")).toBe("10.20.0.0/24");
    expect(publicSubnetCidr("10.20.5.0/26")).toBe("10.20.5.0/26");
    expect(() => publicSubnetCidr("10.20.5.0/29")).toThrow(/minimum/);
  });
});

describe("plan", () => {
  const spec = parseClusterSpec(prodConfig());
  it("places the core machines in the core region and hosts in theirs", () => {
    const m = planMachines(spec);
    expect(m.filter((x) => x.awsRegion === "eu-central-1").map((x) => x.name)).toEqual([
      "consul-1",
      "consul-2",
      "consul-3",
      "balancer",
      "swarm-manager",
      "r1-host-1",
      "r1-host-2",
    ]);
    expect(m.find((x) => x.name === "r3-host-1")).toMatchObject({
      role: "host",
      region: "region-3",
      awsRegion: "ap-southeast-1",
    });
  });
  it("stays under the per-group rule limit for prod and never opens cluster ports to a CIDR except the operator's", () => {
    const rules = planFirewall(spec);
    for (const n of Object.values(rulesPerGroup(rules)))
      expect(n).toBeLessThanOrEqual(MAX_RULES_PER_GROUP);
    for (const r of rules) {
      if ("cidr" in r.source && r.source.cidr !== spec.ssh.allowedCidr) {
        expect(
          spec.entryPoints.map((e) => e.lbPort),
          JSON.stringify(r),
        ).toContain(r.fromPort);
      }
    }
  });
});

describe("shell quoting", () => {
  it("round-trips any string through sh", async () => {
    const { execFileSync } = await import("node:child_process");
    const samples = ["plain", "it's", "$(reboot)", "a\nb", '`x` \\ "q" ${y}'];
    for (const s of samples)
      expect(execFileSync("sh", ["-c", `printf %s ${shq(s)}`], { encoding: "utf8" })).toBe(s);
  });
});

describe("YAML emitter", () => {
  const scalar = fc.oneof(
    fc.string({ unit: "grapheme", maxLength: 30 }),
    fc.constantFrom(
      "yes",
      "no",
      "on",
      "0644",
      "null",
      "~",
      "- x",
      "#c",
      "a: b",
      "",
      " lead",
      "\ttab",
      "x\n",
      "a\n\nb\n",
      "a\r\nb",
    ),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
  );
  const value: fc.Arbitrary<YamlValue> = fc.letrec<{ v: YamlValue }>((tie) => ({
    v: fc.oneof(
      { depthSize: "small" },
      scalar,
      fc.array(tie("v"), { maxLength: 4 }),
      fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), tie("v"), { maxKeys: 4 }),
    ),
  })).v;

  it("emits documents PyYAML reads back unchanged", () => {
    const docs = fc.sample(
      fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), value, { maxKeys: 5 }),
      { numRuns: 300, seed: 42 },
    );
    const parsed = parseYamlMany(docs.map(toYaml));
    for (const [i, doc] of docs.entries()) {
      expect(parsed[i], toYaml(doc)).toEqual(JSON.parse(JSON.stringify(doc)));
    }
  });
});
