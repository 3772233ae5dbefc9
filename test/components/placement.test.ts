// Where a region's machines go (components/placement.ts): the availability zone, the instance
// types' architecture and the Elastic IP quota. Pure rules first, then RegionNetwork under mocks
// with AWS's answers replaced per test (Local Zones, offerings, Graviton types, Service Quotas),
// then the prod program.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { UBUNTU_AMI_NAME } from "../../components/machine";
import {
  checkEipQuota,
  checkPlacement,
  chooseAvailabilityZone,
  EIP_QUOTA_CODE,
  type InstanceTypeUse,
  isKnownArm64InstanceType,
  MACHINE_ARCHITECTURE,
  PlacementError,
  type ZoneOfferings,
} from "../../components/placement";
import {
  installMocks,
  invokeOverrides,
  invokes,
  type Recorded,
  resolved,
  settled,
} from "./support/mocks";
import { runProgram } from "./support/program";
import { ROOT } from "./support/stack";

const AZS = "aws:index/getAvailabilityZones:getAvailabilityZones";
const OFFERINGS = "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings";
const TYPE = "aws:ec2/getInstanceType:getInstanceType";
const QUOTA = "aws:servicequotas/getServiceQuota:getServiceQuota";

/** The PlacementError message `f` throws; fails the test when it throws nothing. */
function thrown(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(PlacementError);
    return (e as Error).message;
  }
  throw new Error("expected a PlacementError");
}

const offered = (pairs: Record<string, string[]>): ZoneOfferings => {
  const entries = Object.entries(pairs).flatMap(([t, zones]) => zones.map((z) => [t, z]));
  return { instanceTypes: entries.map(([t]) => t), locations: entries.map(([, z]) => z) };
};
const use = (instanceType: string, usedBy: string): InstanceTypeUse => ({ instanceType, usedBy });
const X86 = ["i386", "x86_64"];

describe("instance type architecture", () => {
  it("knows the Graviton families statically, and no x86 family by mistake", () => {
    for (const t of ["t4g.small", "a1.large", "m6gd.xlarge", "c7gn.large", "x2gd.metal"]) {
      expect(isKnownArm64InstanceType(t), t).toBe(true);
    }
    for (const t of ["im4gn.large", "is4gen.medium", "g5g.xlarge", "hpc7g.4xlarge", "r8g.large"]) {
      expect(isKnownArm64InstanceType(t), t).toBe(true);
    }
    for (const t of ["t3.small", "c6i.large", "g5.xlarge", "g6e.xlarge", "g4dn.xlarge"]) {
      expect(isKnownArm64InstanceType(t), t).toBe(false);
    }
    for (const t of ["m7i-flex.large", "u-6tb1.metal", "gr6.4xlarge", "mac1.metal", "z1d.large"]) {
      expect(isKnownArm64InstanceType(t), t).toBe(false);
    }
  });

  it("matches what the machines run: the amd64 Ubuntu AMI and the linux-x64 Node.js build", () => {
    expect(MACHINE_ARCHITECTURE).toBe("x86_64");
    expect(UBUNTU_AMI_NAME).toContain("-amd64-");
    const scripts = readFileSync(path.join(ROOT, "components/render/scripts.ts"), "utf8");
    expect(scripts).toMatch(/node-v\\?\$\{version\}-linux-x64\.tar\.xz/);
  });
});

describe("chooseAvailabilityZone", () => {
  const base = {
    awsRegion: "us-east-1",
    zones: ["us-east-1c", "us-east-1a", "us-east-1b"],
    architectures: { "t3.medium": X86, "c6i.large": X86 },
  };

  it("takes the first zone by name that offers every type", () => {
    const uses = [use("t3.medium", "k1"), use("c6i.large", "k2")];
    const offerings = offered({
      "t3.medium": ["us-east-1a", "us-east-1b", "us-east-1c"],
      "c6i.large": ["us-east-1c", "us-east-1b"],
    });
    expect(chooseAvailabilityZone({ ...base, offerings, uses })).toBe("us-east-1b");
    expect(chooseAvailabilityZone({ ...base, offerings, uses: [uses[0]] })).toBe("us-east-1a");
  });

  it("without types, takes the first zone by name", () => {
    const none = { instanceTypes: [], locations: [] };
    expect(chooseAvailabilityZone({ ...base, offerings: none, uses: [] })).toBe("us-east-1a");
  });

  it("refuses when no zone offers every type, saying where each is offered", () => {
    const message = thrown(() =>
      chooseAvailabilityZone({
        ...base,
        offerings: offered({ "t3.medium": ["us-east-1a"], "c6i.large": ["us-east-1b"] }),
        uses: [use("t3.medium", "geoswarm:a"), use("c6i.large", "geoswarm:b")],
      }),
    );
    expect(message).toContain(
      "us-east-1: no availability zone (us-east-1a, us-east-1b, us-east-1c)",
    );
    expect(message).toContain(
      "c6i.large (geoswarm:b) in us-east-1b; t3.medium (geoswarm:a) in us-east-1a",
    );
  });

  it("refuses an arm64 type and a type the region does not offer, naming the keys", () => {
    const message = thrown(() =>
      chooseAvailabilityZone({
        ...base,
        architectures: { "t3.medium": X86, "t4g.small": ["arm64"] },
        offerings: offered({ "t3.medium": ["us-east-1a"], "t4g.small": ["us-east-1a"] }),
        uses: [
          use("t4g.small", "geoswarm:consul.instanceType"),
          use("t3.medium", "geoswarm:regions[0].hosts[0].instanceType"),
          use("x9.huge", "geoswarm:regions[0].hosts[1].instanceType"),
        ],
      }),
    );
    expect(message.split("\n")).toEqual([
      expect.stringMatching(
        /^geoswarm:consul\.instanceType: t4g\.small is arm64, but geoswarm machines run Ubuntu 24\.04 amd64 and Node\.js linux-x64; choose an x86_64 type/,
      ),
      expect.stringMatching(
        /^geoswarm:regions\[0\]\.hosts\[1\]\.instanceType: x9\.huge is not offered in any availability zone of us-east-1/,
      ),
    ]);
  });

  it("refuses a region without a zone that needs no opt-in", () => {
    expect(
      thrown(() =>
        chooseAvailabilityZone({
          ...base,
          zones: [],
          offerings: { instanceTypes: [], locations: [] },
          uses: [],
        }),
      ),
    ).toContain("us-east-1: no available availability zone without opt-in");
  });
});

describe("checkPlacement (the subnet keeps its zone)", () => {
  it("refuses a type the existing subnet's zone does not offer", () => {
    const input = {
      awsRegion: "eu-central-1",
      zone: "eu-central-1a",
      architectures: { "t3.medium": X86, "c7i.large": X86 },
      offerings: offered({ "t3.medium": ["eu-central-1a"], "c7i.large": ["eu-central-1b"] }),
    };
    expect(() => checkPlacement({ ...input, uses: [use("t3.medium", "k")] })).not.toThrow();
    expect(
      thrown(() => checkPlacement({ ...input, uses: [use("c7i.large", "geoswarm:h")] })),
    ).toMatch(
      /^geoswarm:h: c7i\.large is not offered in eu-central-1a, the availability zone of the eu-central-1 subnet/,
    );
  });
});

describe("checkEipQuota", () => {
  it("passes within the quota and says how to raise it otherwise", () => {
    expect(() =>
      checkEipQuota("net-a", "eu-central-1", 7, { value: 7, source: "service-quotas" }),
    ).not.toThrow();
    const read = thrown(() =>
      checkEipQuota("net-a", "eu-central-1", 7, { value: 5, source: "service-quotas" }),
    );
    expect(read).toContain("net-a: needs 7 Elastic IPs in eu-central-1 but the quota is 5");
    expect(read).toContain(
      `aws service-quotas request-service-quota-increase --region eu-central-1 --service-code ec2 --quota-code ${EIP_QUOTA_CODE} --desired-value 7`,
    );
    const assumed = thrown(() =>
      checkEipQuota("net-a", "eu-central-1", 7, {
        value: 5,
        source: "geoswarm:regions[0].eipQuota",
      }),
    );
    expect(assumed).toContain("(geoswarm:regions[0].eipQuota; Service Quotas could not be read)");
    expect(assumed).toContain("then raise geoswarm:regions[0].eipQuota to the granted value");
  });
});

// ---------------------------------------------------------------------------------------------
// RegionNetwork under mocks: the invokes answer as a region with a Local Zone would.

let recorded: Recorded[];
let lib: typeof import("../../components");
let n = 0;

/** The error an Output fails with, or undefined when it resolves. */
async function failureOf(o: pulumi.Output<unknown>): Promise<string | undefined> {
  // A failed apply rejects the value and the Output's bookkeeping promises (known, secret,
  // resources) alike; the engine reports them, a test must take all four.
  // biome-ignore lint/suspicious/noExplicitAny: the SDK's internal promises of an Output
  const out = o as any;
  const [value] = await Promise.allSettled([
    out.promise(),
    out.isKnown,
    out.isSecret,
    out.allResources?.(),
  ]);
  return value.status === "rejected" ? (value.reason as Error).message : undefined;
}

/** AWS with a Local Zone listed first, as `describe-availability-zones --all` shows it. */
function localZoneRegion(offerings: Record<string, string[]>): void {
  invokeOverrides.set(AZS, (inputs) => {
    const optInFree = inputs.filters?.some(
      (f: { name: string; values: string[] }) =>
        f.name === "opt-in-status" && f.values.join() === "opt-in-not-required",
    );
    const zones = ["us-west-2-lax-1a", "us-west-2a", "us-west-2b", "us-west-2c"];
    return { names: optInFree ? zones.slice(1) : zones };
  });
  invokeOverrides.set(OFFERINGS, (inputs) => {
    const wanted: string[] = inputs.filters?.[0]?.values ?? [];
    return offered(
      Object.fromEntries(Object.entries(offerings).filter(([t]) => wanted.includes(t))),
    );
  });
}

function network(args: Partial<import("../../components").RegionNetworkArgs>) {
  const name = `pl${++n}`;
  const net = new lib.RegionNetwork(name, {
    awsRegion: "us-west-2",
    cidr: `10.${100 + n}.0.0/16`,
    sshPublicKey: "ssh-ed25519 AAAA x",
    roles: ["host"],
    ...args,
  });
  const subnet = () => recorded.find((r) => r.name === `${name}-public`);
  return { name, net, subnet };
}

describe("RegionNetwork placement (mocked AWS)", () => {
  beforeAll(async () => {
    recorded = await installMocks();
    lib = await import("../../components");
  });
  afterEach(() => {
    invokeOverrides.clear();
    vi.restoreAllMocks();
  });

  it("never puts the subnet in a Local Zone", async () => {
    localZoneRegion({});
    const { net, subnet } = network({});
    await settled(recorded);
    expect(subnet()?.inputs.availabilityZone).toBe("us-west-2a");
    expect(await resolved(net.availabilityZone)).toBe("us-west-2a");
    // A changed choice later must not move the subnet (and replace every machine in it).
    expect(subnet()?.options?.ignoreChanges).toContain("availabilityZone");
  });

  it("takes a zone that offers every instance type of the region", async () => {
    localZoneRegion({
      "t3.medium": ["us-west-2-lax-1a", "us-west-2a", "us-west-2b", "us-west-2c"],
      "c6i.large": ["us-west-2-lax-1a", "us-west-2c"],
    });
    const { net, subnet } = network({ instanceTypes: ["t3.medium", "c6i.large"] });
    expect(await failureOf(net.subnetId)).toBeUndefined();
    expect(subnet()?.inputs.availabilityZone).toBe("us-west-2c");
    const asked = invokes.filter((i) => i.token === OFFERINGS).at(-1)?.inputs;
    expect(asked).toMatchObject({
      region: "us-west-2",
      locationType: "availability-zone",
      filters: [{ name: "instance-type", values: ["c6i.large", "t3.medium"] }],
    });
  });

  it("fails before any instance on an arm64 type, naming where it was configured", async () => {
    localZoneRegion({ "t3.medium": ["us-west-2a"], "m7g.large": ["us-west-2a"] });
    const { net } = network({
      instanceTypes: [
        "t3.medium",
        { instanceType: "m7g.large", usedBy: "geoswarm:regions[2].hosts[0].instanceType" },
      ],
    });
    const message = await failureOf(net.subnetId);
    expect(message).toMatch(
      /geoswarm:regions\[2\]\.hosts\[0\]\.instanceType: m7g\.large is arm64, but geoswarm machines run Ubuntu 24\.04 amd64/,
    );
    const described = invokes.filter((i) => i.token === TYPE).map((i) => i.inputs.instanceType);
    expect(described).toEqual(expect.arrayContaining(["t3.medium", "m7g.large"]));
  });

  it("holds a given zone to the instance types too", async () => {
    localZoneRegion({ "t3.medium": ["us-west-2a", "us-west-2b"] });
    const { net } = network({ availabilityZone: "us-west-2c", instanceTypes: ["t3.medium"] });
    expect(await failureOf(net.subnetId)).toMatch(
      /instance type t3\.medium: t3\.medium is not offered in us-west-2c, the availability zone of the us-west-2 subnet/,
    );
  });

  it("fails when Service Quotas says the region holds fewer Elastic IPs than needed", async () => {
    invokeOverrides.set(QUOTA, (inputs) => ({ ...inputs, value: 5 }));
    const { name, net } = network({
      eipQuotaCheck: { needed: 7, fallbackQuota: 10, fallbackSource: "geoswarm:x.eipQuota" },
    });
    const message = await failureOf(net.subnetId);
    expect(message).toContain(`${name}: needs 7 Elastic IPs in us-west-2 but the quota is 5`);
    expect(message).toContain("--quota-code L-0263D0A3 --desired-value 7");
    expect(await resolved(net.eipQuota)).toEqual({ value: 5, source: "service-quotas" });
    const asked = invokes.filter((i) => i.token === QUOTA).at(-1)?.inputs;
    expect(asked).toMatchObject({
      region: "us-west-2",
      serviceCode: "ec2",
      quotaCode: "L-0263D0A3",
    });
  });

  it("falls back to the configured quota, with a warning, when the caller may not read it", async () => {
    const denied = "AccessDeniedException: not authorized to perform servicequotas:GetServiceQuota";
    invokeOverrides.set(QUOTA, () => {
      throw Object.assign(new Error(denied), { details: denied });
    });
    const warn = vi.spyOn(pulumi.log, "warn").mockImplementation(async () => {});
    const check = { needed: 7, fallbackQuota: 10, fallbackSource: "geoswarm:regions[0].eipQuota" };
    const ok = network({ eipQuotaCheck: check });
    expect(await failureOf(ok.net.subnetId)).toBeUndefined();
    expect(warn.mock.calls.map((c) => c[0]).join("\n")).toMatch(
      /could not read the Elastic IP quota of us-west-2 from Service Quotas \(ec2 L-0263D0A3\): .*AccessDeniedException.*; assuming geoswarm:regions\[0\]\.eipQuota = 10/,
    );
    expect(await resolved(ok.net.eipQuota)).toEqual({
      value: 10,
      source: "geoswarm:regions[0].eipQuota",
    });
    const short = network({ eipQuotaCheck: { ...check, fallbackQuota: 5 } });
    expect(await failureOf(short.net.subnetId)).toContain(
      "needs 7 Elastic IPs in us-west-2 but the quota is 5 (geoswarm:regions[0].eipQuota; Service Quotas could not be read)",
    );
  });

  it("checks nothing it was not asked to (no types, no quota)", async () => {
    const before = invokes.length;
    const { net } = network({});
    await resolved(net.subnetId);
    await settled(recorded);
    const tokens = invokes.slice(before).map((i) => i.token);
    expect(tokens).toEqual([AZS]);
    expect(await resolved(net.eipQuota)).toBeUndefined();
  });
});

describe("the prod program", () => {
  it("checks every region's instance types and Elastic IPs under the keys that set them", async () => {
    invokes.length = 0;
    await runProgram();
    const byRegion = (token: string): Record<string, Record<string, any>> =>
      Object.fromEntries(
        invokes.filter((i) => i.token === token).map((i) => [i.inputs.region, i.inputs]),
      );
    expect(
      Object.fromEntries(
        Object.entries(byRegion(OFFERINGS)).map(([r, i]) => [r, i.filters[0].values]),
      ),
    ).toEqual({
      "eu-central-1": ["t3.medium", "t3.small"],
      "us-east-1": ["c6i.large", "t3.medium"],
      "ap-southeast-1": ["t3.medium"],
    });
    for (const zones of Object.values(byRegion(AZS))) {
      expect(zones.filters).toEqual([{ name: "opt-in-status", values: ["opt-in-not-required"] }]);
    }
    expect(Object.keys(byRegion(QUOTA)).sort()).toEqual([
      "ap-southeast-1",
      "eu-central-1",
      "us-east-1",
    ]);
  });

  it("warns and uses regions[].eipQuota when Service Quotas cannot be read", async () => {
    invokeOverrides.set(QUOTA, () => {
      throw Object.assign(new Error("AccessDenied"), { details: "AccessDenied" });
    });
    const warn = vi.spyOn(pulumi.log, "warn").mockImplementation(async () => {});
    try {
      // As an operator would after AWS granted 10 in the core region (the sample needs 7).
      await runProgram((c) => {
        c.regions[0].eipQuota = 10;
      });
      const warned = warn.mock.calls.map((c) => String(c[0]));
      expect(warned.filter((w) => w.includes("Elastic IP quota")).sort()).toEqual(
        [
          ["ap-southeast-1", 2, 5],
          ["eu-central-1", 0, 10],
          ["us-east-1", 1, 5],
        ].map(([region, i, quota]) =>
          expect.stringContaining(
            `of ${region} from Service Quotas (ec2 L-0263D0A3): AccessDenied; assuming geoswarm:regions[${i}].eipQuota = ${quota}`,
          ),
        ),
      );
    } finally {
      invokeOverrides.clear();
      warn.mockRestore();
    }
  });
});
