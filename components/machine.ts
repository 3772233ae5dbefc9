// Shared EC2 plumbing for the components (not a component itself): Ubuntu AMI lookup, the
// instance with hardened metadata, and the Elastic IP association.
import * as aws from "@pulumi/aws";
import type * as command from "@pulumi/command";
import type * as pulumi from "@pulumi/pulumi";
import type { ElasticAddress } from "./addresses";
import type { RegionNetwork } from "./network";
import type { Role } from "./plan";

/** Canonical's AWS account. */
export const CANONICAL_OWNER = "099720109477";
export const UBUNTU_AMI_NAME = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*";

export interface MachineArgs {
  network: RegionNetwork;
  role: Role;
  instanceType: string;
  userData: pulumi.Input<string>;
  /** Pre-allocated address; a new EIP (child of `parent`) when absent. */
  address?: ElasticAddress;
  /** AMI id; the latest Ubuntu 24.04 amd64 image of the region when absent (then pinned via ignoreChanges). */
  ami?: pulumi.Input<string>;
  rootVolumeGb?: number;
}

export interface Machine {
  instance: aws.ec2.Instance;
  publicIp: pulumi.Output<string>;
  privateIp: pulumi.Output<string>;
  association: aws.ec2.EipAssociation;
}

/** Allocates an EIP owned by `parent` (for components used without ClusterAddresses). */
export function ownAddress(
  name: string,
  awsRegion: string,
  parent: pulumi.Resource,
): ElasticAddress {
  const eip = new aws.ec2.Eip(
    `${name}-eip`,
    { domain: "vpc", region: awsRegion, tags: { Name: name } },
    { parent },
  );
  return { allocationId: eip.allocationId, publicIp: eip.publicIp };
}

export function createMachine(name: string, m: MachineArgs, parent: pulumi.Resource): Machine {
  const region = m.network.awsRegion;
  const address = m.address ?? ownAddress(name, region, parent);
  const ami =
    m.ami ??
    aws.ec2
      .getAmiOutput(
        {
          region,
          owners: [CANONICAL_OWNER],
          mostRecent: true,
          filters: [
            { name: "name", values: [UBUNTU_AMI_NAME] },
            { name: "virtualization-type", values: ["hvm"] },
          ],
        },
        { parent },
      )
      .apply((a) => a.id);
  const instance = new aws.ec2.Instance(
    `${name}-vm`,
    {
      region,
      ami,
      instanceType: m.instanceType,
      subnetId: m.network.subnetId,
      vpcSecurityGroupIds: [m.network.securityGroupId(m.role)],
      keyName: m.network.keyName,
      userData: m.userData,
      // cloud-init applies user data on first boot only: a change must mean a new instance.
      userDataReplaceOnChange: true,
      // Tokens required; hop limit 1 keeps containers away from IMDS and so from the user data.
      metadataOptions: {
        httpTokens: "required",
        httpPutResponseHopLimit: 1,
        httpEndpoint: "enabled",
      },
      rootBlockDevice: { volumeType: "gp3", volumeSize: m.rootVolumeGb ?? 20, encrypted: true },
      tags: { Name: name, "geoswarm:role": m.role },
    },
    { parent, ignoreChanges: m.ami ? [] : ["ami"] },
  );
  const association = new aws.ec2.EipAssociation(
    `${name}-eip-assoc`,
    { region, allocationId: address.allocationId, instanceId: instance.id },
    { parent, dependsOn: [m.network.internetGateway] },
  );
  return { instance, publicIp: address.publicIp, privateIp: instance.privateIp, association };
}

export interface SshArgs {
  /** Login user. Defaults to "ubuntu" (Ubuntu AMIs). */
  user?: string;
  /** OpenSSH private key matching the key pair; keep it a secret. Required. */
  privateKey: pulumi.Input<string>;
}

/** SSH connection for remote commands: waits out the instance boot instead of failing after ~10 s. */
export function sshConnection(
  host: pulumi.Input<string>,
  ssh: SshArgs,
): command.types.input.remote.ConnectionArgs {
  return {
    host,
    user: ssh.user ?? "ubuntu",
    privateKey: ssh.privateKey,
    dialErrorLimit: -1,
    perDialTimeout: 15,
  };
}

/** First command on a fresh host: wait for cloud-init (exit 2 = finished with recoverable errors). */
export const WAIT_FOR_CLOUD_INIT = "cloud-init status --wait >/dev/null || [ $? -eq 2 ]";
