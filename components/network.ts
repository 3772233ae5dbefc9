import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { type FirewallRule, ROLES, type Role } from "./plan";
import { hostCidr, publicSubnetCidr } from "./render/net";
import { TYPE_PREFIX } from "./types";

export interface RegionNetworkArgs {
  /** AWS region every resource of this network is created in (aws v7 per-resource `region`). Required. */
  awsRegion: string;
  /** VPC CIDR; must not overlap other regions'. Required. */
  cidr: string;
  /** Public subnet CIDR. Defaults to the first /24 of `cidr`. */
  subnetCidr?: string;
  /** Availability zone of the public subnet. Defaults to the region's first available zone. */
  availabilityZone?: pulumi.Input<string>;
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

const slug = (s: string) => s.replace(/[^A-Za-z0-9-]+/g, "-").replace(/^-|-$/g, "");

/**
 * One AWS region's network: VPC, public subnet, internet gateway, default route, key pair, and
 * one security group per role. Cluster ports admit only the cluster's own EIPs (/32 each,
 * computed from the allocated addresses); all egress is allowed (apt, docker pull).
 */
export class RegionNetwork extends pulumi.ComponentResource {
  public readonly awsRegion: string;
  public readonly vpcId: pulumi.Output<string>;
  public readonly subnetId: pulumi.Output<string>;
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
    const az =
      args.availabilityZone ??
      aws
        .getAvailabilityZonesOutput({ region, state: "available" }, child)
        .apply((z) => z.names[0]);
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
      child,
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
    const key = new aws.ec2.KeyPair(
      `${name}-key`,
      { region, publicKey: args.sshPublicKey, tags: tags(`${name}-key`) },
      child,
    );

    const roles = args.roles ?? [...ROLES];
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
      new aws.vpc.SecurityGroupEgressRule(
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
      for (const rule of (args.rules ?? []).filter((r) => r.role === role)) {
        const source =
          "cidr" in rule.source
            ? { label: slug(rule.source.cidr), cidr: pulumi.output(rule.source.cidr) }
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

    this.vpcId = vpc.id;
    this.subnetId = subnet.id;
    this.internetGateway = igw;
    this.internetReady = [igw, routes, association];
    this.keyName = key.keyName;
    this.registerOutputs({ vpcId: this.vpcId, subnetId: this.subnetId, keyName: this.keyName });
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
