// Where a region's machines can run: the availability zone of its public subnet, the instance
// types' architecture, and the Elastic IP quota. Pure functions over what the AWS data sources
// return, so RegionNetwork only fetches and every rule is tested without the Pulumi engine.

/**
 * The one CPU architecture geoswarm runs on: the AMI is Ubuntu 24.04 amd64 (machine.ts
 * UBUNTU_AMI_NAME) and the balancer installs Node.js linux-x64 (render/scripts.ts). An arm64
 * (Graviton) instance would not boot the image.
 */
export const MACHINE_ARCHITECTURE = "x86_64";

/** EC2 quota "EC2-VPC Elastic IPs" (service code ec2), per region. */
export const EIP_QUOTA_CODE = "L-0263D0A3";
export const EIP_QUOTA_SERVICE = "ec2";
/** AWS's default Elastic IP quota per region, assumed when nothing better is known. */
export const DEFAULT_EIP_QUOTA = 5;

/** An instance type a region will run, and where it was chosen (named in every error). */
export interface InstanceTypeUse {
  /** EC2 instance type, e.g. "t3.medium". Required. */
  instanceType: string;
  /** Where the type was configured, e.g. "geoswarm:consul.instanceType". Required. */
  usedBy: string;
}

/** A placement or quota problem: its message says what to change. */
export class PlacementError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
    this.name = "PlacementError";
  }
}

/** A plain list of types becomes uses named after the type itself. */
export const asUses = (types: readonly (string | InstanceTypeUse)[]): InstanceTypeUse[] =>
  types.map((t) => (typeof t === "string" ? { instanceType: t, usedBy: `instance type ${t}` } : t));

// Graviton families: a1, and every family whose attribute letters after the generation contain
// "g" (t4g, m6gd, c7gn, x2gd, im4gn, is4gen, g5g, hpc7g, ...). GPU families such as g5 or g6e
// carry "g" before the generation and are x86_64.
const ARM64_FAMILY = /^(a1|[a-z]+\d+[a-z]*g[a-z]*)(-[a-z0-9]+)?\./;

/**
 * Static first gate: the instance type belongs to a known arm64 (Graviton) family. The
 * deploy-time check against `aws.ec2.getInstanceType` stays the authority for other types.
 */
export const isKnownArm64InstanceType = (instanceType: string): boolean =>
  ARM64_FAMILY.test(instanceType);

const architectureAdvice = (use: InstanceTypeUse, found: string) =>
  `${use.usedBy}: ${use.instanceType} is ${found}, but geoswarm machines run Ubuntu 24.04 amd64 and Node.js linux-x64; choose an ${MACHINE_ARCHITECTURE} type (e.g. t3.small, t3.medium, c6i.large)`;

/** Static architecture problems of `uses` (known arm64 families only). */
export function staticArchitectureProblems(uses: readonly InstanceTypeUse[]): string[] {
  return uses
    .filter((u) => isKnownArm64InstanceType(u.instanceType))
    .map((u) => architectureAdvice(u, "an arm64 (Graviton) type"));
}

/** Distinct instance types of `uses`, sorted. */
export const distinctTypes = (uses: readonly InstanceTypeUse[]): string[] =>
  [...new Set(uses.map((u) => u.instanceType))].sort();

/** `getInstanceTypeOfferings` with locationType "availability-zone": parallel lists. */
export interface ZoneOfferings {
  instanceTypes: string[];
  locations: string[];
}

/** Zones offering each type, from the parallel lists of the offerings data source. */
export function zonesByType(offerings: ZoneOfferings): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  offerings.instanceTypes.forEach((t, i) => {
    const zones = out.get(t) ?? new Set<string>();
    zones.add(offerings.locations[i]);
    out.set(t, zones);
  });
  return out;
}

export interface PlacementInput {
  /** AWS region, named in messages. */
  awsRegion: string;
  /** Zones in state "available" that need no opt-in (so no Local or Wavelength Zone). */
  zones: string[];
  /** Where the region offers the used types (availability-zone locations). */
  offerings: ZoneOfferings;
  /** `supportedArchitectures` of each type offered in the region. */
  architectures: Record<string, string[]>;
  uses: InstanceTypeUse[];
}

function typeProblems(
  input: Pick<PlacementInput, "awsRegion" | "architectures" | "uses">,
  byType: Map<string, Set<string>>,
): string[] {
  const problems: string[] = [];
  for (const use of input.uses) {
    if (!byType.has(use.instanceType)) {
      problems.push(
        `${use.usedBy}: ${use.instanceType} is not offered in any availability zone of ${input.awsRegion}; choose a type the region offers (aws ec2 describe-instance-type-offerings --region ${input.awsRegion} --location-type availability-zone)`,
      );
      continue;
    }
    const archs = input.architectures[use.instanceType] ?? [];
    if (!archs.includes(MACHINE_ARCHITECTURE)) {
      problems.push(architectureAdvice(use, archs.join("/") || "of an unknown architecture"));
    }
  }
  return problems;
}

/** The first zone (by name) offering every used type; undefined when none does. */
function fittingZone(input: PlacementInput, byType: Map<string, Set<string>>): string | undefined {
  const types = distinctTypes(input.uses);
  return [...input.zones].sort().find((z) => types.every((t) => byType.get(t)?.has(z)));
}

/**
 * The zone to create a subnet in without failing: the first fitting zone, else the first zone
 * by name. chooseAvailabilityZone says why the choice cannot work; RegionNetwork checks that
 * before any instance is created, so the subnet itself never waits for the verdict.
 */
export function preferredZone(input: PlacementInput): string | undefined {
  return fittingZone(input, zonesByType(input.offerings)) ?? [...input.zones].sort()[0];
}

/**
 * The availability zone for a region's public subnet: the first (by name) zone that needs no
 * opt-in and offers every used instance type, each of which must run x86_64. Throws a
 * PlacementError listing every problem, each naming where the type was configured.
 */
export function chooseAvailabilityZone(input: PlacementInput): string {
  const byType = zonesByType(input.offerings);
  const problems = typeProblems(input, byType);
  if (problems.length) throw new PlacementError(problems);
  const zones = [...input.zones].sort();
  if (zones.length === 0) {
    throw new PlacementError([
      `${input.awsRegion}: no available availability zone without opt-in (Local and Wavelength Zones are not used)`,
    ]);
  }
  const fit = fittingZone(input, byType);
  if (fit) return fit;
  const where = distinctTypes(input.uses).map(
    (t) =>
      `${t} (${usersOf(input.uses, t)}) in ${[...(byType.get(t) ?? [])].sort().join(", ") || "none of them"}`,
  );
  throw new PlacementError([
    `${input.awsRegion}: no availability zone (${zones.join(", ")}) offers every instance type the region uses: ${where.join("; ")}; choose types with a zone in common`,
  ]);
}

const usersOf = (uses: readonly InstanceTypeUse[], type: string) =>
  uses
    .filter((u) => u.instanceType === type)
    .map((u) => u.usedBy)
    .join(", ");

/**
 * Checks the zone the subnet is in (chosen earlier, or given): every used type must run x86_64
 * and be offered there. An existing subnet keeps its zone (moving it would replace every
 * machine in it), so a type added later must fit that zone.
 */
export function checkPlacement(input: Omit<PlacementInput, "zones"> & { zone: string }): void {
  const byType = zonesByType(input.offerings);
  const problems = typeProblems(input, byType);
  for (const use of input.uses) {
    const zones = byType.get(use.instanceType);
    if (zones && !zones.has(input.zone)) {
      problems.push(
        `${use.usedBy}: ${use.instanceType} is not offered in ${input.zone}, the availability zone of the ${input.awsRegion} subnet; choose a type offered there (aws ec2 describe-instance-type-offerings --region ${input.awsRegion} --location-type availability-zone --filters Name=location,Values=${input.zone})`,
      );
    }
  }
  if (problems.length) throw new PlacementError(problems);
}

/** The Elastic IP quota a region is checked against, and where it came from. */
export interface EipQuota {
  value: number;
  /** "service-quotas" when read from AWS, else what the fallback was (e.g. a config key). */
  source: string;
}

/**
 * Throws when a region needs more Elastic IPs than its quota, saying how to request more.
 * Addresses already allocated in the region by anything else count against the same quota.
 */
export function checkEipQuota(
  where: string,
  awsRegion: string,
  needed: number,
  quota: EipQuota,
): void {
  if (needed <= quota.value) return;
  const from =
    quota.source === "service-quotas"
      ? `read from Service Quotas, ${EIP_QUOTA_SERVICE} ${EIP_QUOTA_CODE} "EC2-VPC Elastic IPs"`
      : `${quota.source}; Service Quotas could not be read`;
  const raise =
    quota.source === "service-quotas" ? "" : `, then raise ${quota.source} to the granted value`;
  throw new PlacementError([
    `${where}: needs ${needed} Elastic IPs in ${awsRegion} but the quota is ${quota.value} (${from}); request an increase with \`aws service-quotas request-service-quota-increase --region ${awsRegion} --service-code ${EIP_QUOTA_SERVICE} --quota-code ${EIP_QUOTA_CODE} --desired-value ${needed}\` or in the Service Quotas console${raise}`,
  ]);
}
