import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { TYPE_PREFIX } from "./types";

/** An Elastic IP allocated ahead of its machine, so configs and firewalls can name it first. */
export interface ElasticAddress {
  allocationId: pulumi.Output<string>;
  publicIp: pulumi.Output<string>;
}

/** Arguments of {@link ClusterAddresses}. */
export interface ClusterAddressesArgs {
  /**
   * One Elastic IP per entry, allocated in `awsRegion` and tagged with `name`. Required; the
   * order does not matter. Names must be unique.
   */
  machines: { name: string; awsRegion: string }[];
  /**
   * What deleting an address does: "protect" makes the engine refuse (until this changes),
   * "retain" leaves it allocated in AWS, "release" gives it back. Defaults to "protect": the
   * addresses are the cluster's identity.
   */
  onDelete?: "protect" | "retain" | "release";
}

/**
 * Allocates every machine's Elastic IP before any machine exists. Hosts, firewalls and configs
 * refer to each other's addresses (hosts → balancer, balancer → hosts, Consul servers → each
 * other), so addresses come first and machines associate with them. Replacing a machine keeps
 * its address.
 */
export class ClusterAddresses extends pulumi.ComponentResource {
  public readonly addresses: Record<string, ElasticAddress>;
  public readonly publicIps: Record<string, pulumi.Output<string>>;

  constructor(name: string, args: ClusterAddressesArgs, opts?: pulumi.ComponentResourceOptions) {
    super(`${TYPE_PREFIX}ClusterAddresses`, name, {}, opts);
    this.addresses = {};
    this.publicIps = {};
    const onDelete = args.onDelete ?? "protect";
    for (const m of args.machines) {
      if (this.addresses[m.name]) throw new Error(`duplicate machine name ${m.name}`);
      const eip = new aws.ec2.Eip(
        `${name}-${m.name}`,
        { domain: "vpc", region: m.awsRegion, tags: { Name: m.name, "geoswarm:machine": m.name } },
        {
          parent: this,
          protect: onDelete === "protect",
          retainOnDelete: onDelete === "retain",
        },
      );
      this.addresses[m.name] = { allocationId: eip.allocationId, publicIp: eip.publicIp };
      this.publicIps[m.name] = eip.publicIp;
    }
    this.registerOutputs({ publicIps: this.publicIps });
  }

  /** The Elastic IP allocated for `machine`; throws when no address was planned for it. */
  get(machine: string): ElasticAddress {
    const a = this.addresses[machine];
    if (!a) throw new Error(`no Elastic IP planned for ${machine}`);
    return a;
  }
}
