import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
  asUses,
  checkEipQuota,
  checkPlacement,
  chooseAvailabilityZone,
  DEFAULT_EIP_QUOTA,
  distinctTypes,
  EIP_QUOTA_CODE,
  EIP_QUOTA_SERVICE,
  type EipQuota,
  type InstanceTypeUse,
  type PlacementInput,
  preferredZone,
  type ZoneOfferings,
  zonesByType,
} from "./placement";
import { type FirewallRule, ROLES, type Role } from "./plan";
import { hostCidr, publicSubnetCidr, slug } from "./render/net";
import { TYPE_PREFIX } from "./types";

/** Arguments of {@link RegionNetwork}. */
export interface RegionNetworkArgs {
  /** AWS region every resource of this network is created in (aws v7 per-resource `region`). Required. */
  awsRegion: string;
  /** VPC CIDR; must not overlap other regions'. Required. */
  cidr: string;
  /** Public subnet CIDR. Defaults to the first /24 of `cidr`. */
  subnetCidr?: string;
  /**
   * Availability zone of the public subnet. Defaults to the first zone (by name) that is
   * available, needs no opt-in (never a Local or Wavelength Zone) and offers every type of
   * `instanceTypes`. The subnet keeps its first zone: a later change of this choice does not
   * move it (that would replace every machine in it), `instanceTypes` are checked against it.
   */
  availabilityZone?: pulumi.Input<string>;
  /**
   * Instance types that will run in this network, as types or with where each was configured
   * (named in errors). Each must be x86_64 (the AMI is Ubuntu amd64, the balancer's Node.js is
   * linux-x64) and offered in the subnet's zone; `subnetId` fails otherwise, before any
   * instance is created. Defaults to none: no instance-type check.
   */
  instanceTypes?: (string | InstanceTypeUse)[];
  /**
   * Elastic IPs the stack holds in this region, checked against the account's quota before any
   * instance is created (`subnetId` fails otherwise). Defaults to no check.
   */
  eipQuotaCheck?: EipQuotaCheck;
  /** OpenSSH public key, imported as this region's key pair. Required. */
  sshPublicKey: pulumi.Input<string>;
  /** Roles that get a security group here. Defaults to all: consul, balancer, manager, host. */
  roles?: Role[];
  /** Inbound rules (see planFirewall); rules of roles not in `roles` are skipped. Defaults to none. */
  rules?: FirewallRule[];
  /**
   * Public IPs of the machines that rules name as sources, by machine name (each becomes a /32).
   * Required for every machine a rule names; defaults to none.
   */
  machineIps?: Record<string, pulumi.Input<string>>;
}

/** How many Elastic IPs a region needs, and the quota to assume when AWS cannot tell. */
export interface EipQuotaCheck {
  /** Elastic IPs the stack allocates in the region. Required. */
  needed: number;
  /**
   * Read the quota (ec2 L-0263D0A3) from Service Quotas; needs `servicequotas:GetServiceQuota`.
   * When the read fails, `fallbackQuota` is used with a warning. Defaults to true.
   */
  lookup?: boolean;
  /** Quota assumed when it is not read or the read fails. Defaults to 5 (AWS's default). */
  fallbackQuota?: number;
  /** Where `fallbackQuota` was configured, named in messages. Defaults to "fallbackQuota". */
  fallbackSource?: string;
}

/** Where the region offers the used types, and the architectures of those it offers. */
interface TypeFacts {
  offerings: pulumi.Output<ZoneOfferings>;
  architectures: pulumi.Output<Record<string, string[]>>;
}

function typeFacts(region: string, uses: InstanceTypeUse[], opts: pulumi.InvokeOptions): TypeFacts {
  const offerings = aws.ec2
    .getInstanceTypeOfferingsOutput(
      {
        region,
        locationType: "availability-zone",
        filters: [{ name: "instance-type", values: distinctTypes(uses) }],
      },
      opts,
    )
    .apply((o) => ({ instanceTypes: o.instanceTypes, locations: o.locations }));
  // Only types the region offers are described: DescribeInstanceTypes fails on the others,
  // which checkPlacement reports with the key that chose them.
  const architectures = offerings.apply((o) =>
    pulumi.all(
      Object.fromEntries(
        [...zonesByType(o).keys()].map((t) => [
          t,
          aws.ec2
            .getInstanceTypeOutput({ region, instanceType: t }, opts)
            .apply((d) => d.supportedArchitectures),
        ]),
      ),
    ),
  );
  return { offerings, architectures };
}

/** Zones in state "available" that need no opt-in: never a Local or Wavelength Zone. */
function usableZones(region: string, opts: pulumi.InvokeOptions): pulumi.Output<string[]> {
  return aws
    .getAvailabilityZonesOutput(
      {
        region,
        state: "available",
        filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }],
      },
      opts,
    )
    .apply((z) => z.names);
}

/** What placement decides on; `zones` is empty when the caller gave the zone. */
function placementInput(
  region: string,
  uses: InstanceTypeUse[],
  types: TypeFacts | undefined,
  zones: pulumi.Output<string[]> | undefined,
): pulumi.Output<PlacementInput> {
  const none: ZoneOfferings = { instanceTypes: [], locations: [] };
  return pulumi
    .all([zones ?? [], types?.offerings ?? none, types?.architectures ?? {}])
    .apply(([names, offerings, architectures]) => ({
      awsRegion: region,
      zones: names,
      offerings,
      architectures,
      uses,
    }));
}

/**
 * The region's Elastic IP quota from Service Quotas, or `fallbackQuota` with a warning when the
 * caller may not read it (AccessDenied) or the service does not answer. The plain invoke is
 * used because its failure can be caught; the Output form would fail the deployment.
 */
function eipQuotaOf(
  region: string,
  check: EipQuotaCheck,
  parent: pulumi.Resource,
): pulumi.Output<EipQuota> {
  const fallback: EipQuota = {
    value: check.fallbackQuota ?? DEFAULT_EIP_QUOTA,
    source: check.fallbackSource ?? "fallbackQuota",
  };
  if (check.lookup === false) return pulumi.output(fallback);
  const warn = (why: string): EipQuota => {
    pulumi.log.warn(
      `could not read the Elastic IP quota of ${region} from Service Quotas (${EIP_QUOTA_SERVICE} ${EIP_QUOTA_CODE}): ${why}; assuming ${fallback.source} = ${fallback.value}. Allow servicequotas:GetServiceQuota to check the real quota.`,
      parent,
    );
    return fallback;
  };
  const read = aws.servicequotas
    .getServiceQuota(
      { region, serviceCode: EIP_QUOTA_SERVICE, quotaCode: EIP_QUOTA_CODE },
      { parent },
    )
    .then(
      (q): EipQuota =>
        typeof q.value === "number" && Number.isFinite(q.value)
          ? { value: q.value, source: "service-quotas" }
          : warn(`no value in the answer`),
      (err: unknown) => warn(err instanceof Error ? err.message : String(err)),
    );
  return pulumi.output(read);
}

/**
 * One AWS region's network: VPC, public subnet, internet gateway, default route, key pair, and
 * one security group per role. Cluster ports admit only the cluster's own EIPs (/32 each,
 * computed from the allocated addresses); all egress is allowed (apt, docker pull).
 */
export class RegionNetwork extends pulumi.ComponentResource {
  public readonly awsRegion: string;
  public readonly vpcId: pulumi.Output<string>;
  /**
   * The public subnet; resolves only once `instanceTypes` and `eipQuotaCheck` passed their checks,
   * so no instance is created in a zone or region that cannot hold it.
   */
  public readonly subnetId: pulumi.Output<string>;
  /** Availability zone of the public subnet. */
  public readonly availabilityZone: pulumi.Output<string>;
  /** The Elastic IP quota `eipQuotaCheck` was checked against; undefined without it. */
  public readonly eipQuota: pulumi.Output<EipQuota | undefined>;
  public readonly internetGateway: aws.ec2.InternetGateway;
  /**
   * What an instance needs before it boots to reach the internet (apt, Node.js download): the
   * gateway, the route table with its default route, and the subnet's association with it.
   */
  public readonly internetReady: pulumi.Resource[];
  public readonly keyName: pulumi.Output<string>;
  public readonly securityGroupIds: Partial<Record<Role, pulumi.Output<string>>>;
  /** The ingress rules created here, by the flow they admit (FirewallRule.flow). */
  private readonly rulesByFlow = new Map<
    string,
    { role: Role; rule: aws.vpc.SecurityGroupIngressRule }[]
  >();

  constructor(name: string, args: RegionNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super(`${TYPE_PREFIX}RegionNetwork`, name, {}, opts);
    const region = args.awsRegion;
    this.awsRegion = region;
    const child = { parent: this };
    const tags = (n: string) => ({ Name: n, "geoswarm:network": name });

    const vpc = new aws.ec2.Vpc(
      `${name}-vpc`,
      {
        region,
        cidrBlock: args.cidr,
        enableDnsHostnames: true,
        enableDnsSupport: true,
        tags: tags(`${name}-vpc`),
      },
      child,
    );
    const uses = asUses(args.instanceTypes ?? []);
    const types = uses.length ? typeFacts(region, uses, child) : undefined;
    const zones = args.availabilityZone === undefined ? usableZones(region, child) : undefined;
    const placement = placementInput(region, uses, types, zones);
    // The subnet never waits for the verdict: `subnetId` does (see below).
    const az = args.availabilityZone ?? placement.apply(preferredZone);
    const subnet = new aws.ec2.Subnet(
      `${name}-public`,
      {
        region,
        vpcId: vpc.id,
        cidrBlock: args.subnetCidr ?? publicSubnetCidr(args.cidr),
        availabilityZone: az,
        // Instances need egress at first boot, before their EIP is associated.
        mapPublicIpOnLaunch: true,
        tags: tags(`${name}-public`),
      },
      // A new zone choice (new offerings, a new instance type) must not move the subnet: that
      // replaces every machine in it. checkPlacement holds the types to the zone it has.
      { parent: this, ignoreChanges: ["availabilityZone"] },
    );
    const igw = new aws.ec2.InternetGateway(
      `${name}-igw`,
      { region, vpcId: vpc.id, tags: tags(`${name}-igw`) },
      child,
    );
    const routes = new aws.ec2.RouteTable(
      `${name}-rt`,
      {
        region,
        vpcId: vpc.id,
        routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }],
        tags: tags(`${name}-rt`),
      },
      child,
    );
    const association = new aws.ec2.RouteTableAssociation(
      `${name}-rta`,
      { region, subnetId: subnet.id, routeTableId: routes.id },
      child,
    );
    // A fixed name, replaced delete-first: instances ignore keyName after their first boot (a new
    // key must not replace them), and the engine also launches a *replacement* instance with the
    // old, ignored keyName, so that name must still exist after a key rotation.
    const key = new aws.ec2.KeyPair(
      `${name}-key`,
      {
        region,
        keyName: `${pulumi.getProject()}-${pulumi.getStack()}-${name}`,
        publicKey: args.sshPublicKey,
        tags: tags(`${name}-key`),
      },
      { ...child, deleteBeforeReplace: true },
    );

    const roles = args.roles ?? [...ROLES];
    const egressRules: pulumi.Resource[] = [];
    this.securityGroupIds = {};
    for (const role of roles) {
      const sg = new aws.ec2.SecurityGroup(
        `${name}-${role}`,
        {
          region,
          vpcId: vpc.id,
          description: `geoswarm ${role} (${name})`,
          tags: tags(`${name}-${role}`),
        },
        child,
      );
      const egress = new aws.vpc.SecurityGroupEgressRule(
        `${name}-${role}-egress`,
        {
          region,
          securityGroupId: sg.id,
          ipProtocol: "-1",
          cidrIpv4: "0.0.0.0/0",
          description: "All egress",
        },
        { parent: sg },
      );
      this.securityGroupIds[role] = sg.id;
      // The AWS provider removes a new group's default egress rule: apt at boot needs this one.
      egressRules.push(egress);
      for (const rule of (args.rules ?? []).filter((r) => r.role === role)) {
        const source =
          "cidr" in rule.source
            ? {
                label: rule.source.name ?? slug(rule.source.cidr),
                cidr: pulumi.output(rule.source.cidr),
              }
            : {
                label: rule.source.machine,
                cidr: pulumi.output(this.machineIp(args, rule.source.machine)).apply(hostCidr),
              };
        const ports =
          rule.fromPort === rule.toPort ? `${rule.fromPort}` : `${rule.fromPort}-${rule.toPort}`;
        const ingress = new aws.vpc.SecurityGroupIngressRule(
          `${name}-${role}-${rule.protocol}${ports}-${source.label}`,
          {
            region,
            securityGroupId: sg.id,
            ipProtocol: rule.protocol,
            fromPort: rule.fromPort,
            toPort: rule.toPort,
            cidrIpv4: source.cidr,
            description: rule.description,
          },
          { parent: sg },
        );
        if (rule.flow) {
          const list = this.rulesByFlow.get(rule.flow) ?? [];
          list.push({ role, rule: ingress });
          this.rulesByFlow.set(rule.flow, list);
        }
      }
    }

    this.availabilityZone = subnet.availabilityZone;
    // Checked on the zone as chosen or given (known in preview, before anything exists) and on
    // the zone the subnet really has (it keeps its first one, see ignoreChanges).
    const checkIn = (zone: pulumi.Input<string | undefined>) =>
      pulumi.all([zone, placement]).apply(([z, p]) => {
        if (z !== undefined) checkPlacement({ ...p, zone: z });
      });
    const placed: (pulumi.Output<unknown> | undefined)[] = [
      zones ? placement.apply(chooseAvailabilityZone) : types ? checkIn(az) : undefined,
      types ? checkIn(subnet.availabilityZone) : undefined,
    ];
    const eips = args.eipQuotaCheck;
    this.eipQuota = eips ? eipQuotaOf(region, eips, this) : pulumi.output(undefined);
    const quotaOk = this.eipQuota.apply((q) => {
      if (eips && q) checkEipQuota(name, region, eips.needed, q);
    });
    this.vpcId = vpc.id;
    const verdict = pulumi.all([...placed, quotaOk]);
    this.subnetId = pulumi.all([subnet.id, verdict]).apply(([id]) => id);
    this.internetGateway = igw;
    this.internetReady = [igw, routes, association, ...egressRules];
    this.keyName = key.keyName;
    // The subnet's own id: a failed check fails the instances that wait for `subnetId`, once.
    this.registerOutputs({ vpcId: this.vpcId, subnetId: subnet.id, keyName: this.keyName });
  }

  private machineIp(args: RegionNetworkArgs, machine: string): pulumi.Input<string> {
    const ip = args.machineIps?.[machine];
    if (ip === undefined)
      throw new Error(
        `RegionNetwork: a rule names ${machine}, but machineIps has no address for it`,
      );
    return ip;
  }

  /**
   * The ingress rules of this network that admit `flow` (an id of ./flows.ts, e.g.
   * "operator-ssh"), optionally only those of one role's group. Resources that need the flow
   * depend on these, so the rules exist before them and are revoked after them.
   */
  flowRules(flow: string, role?: Role): aws.vpc.SecurityGroupIngressRule[] {
    return (this.rulesByFlow.get(flow) ?? [])
      .filter((r) => role === undefined || r.role === role)
      .map((r) => r.rule);
  }

  /** The security group of a role; throws when this network has none for it. */
  securityGroupId(role: Role): pulumi.Output<string> {
    const id = this.securityGroupIds[role];
    if (!id) throw new Error(`this network has no security group for role ${role}`);
    return id;
  }
}
