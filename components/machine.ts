// Shared EC2 plumbing for the components (not a component itself): Ubuntu AMI lookup, the
// instance with hardened metadata, the Elastic IP association, and what every machine gets after
// boot over SSH: the cloud-init check and the authorized keys.
import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { ElasticAddress } from "./addresses";
import type { RegionNetwork } from "./network";
import type { Role } from "./plan";
import { authorizedKeysScript, cloudInitCheckScript } from "./render/machine-scripts";

/** Canonical's AWS account. */
export const CANONICAL_OWNER = "099720109477";
export const UBUNTU_AMI_NAME = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*";

/**
 * How long one remote step (a Command or CopyToRemote) may take, SSH dials included, before
 * `pulumi up` fails it. Without a custom timeout @pulumi/command sets no deadline at all, and a
 * connection that can never succeed (a key no machine accepts, a wrong bastion, a runner outside
 * ssh.allowedCidr) would hang the update. 20 minutes cover a first boot (apt, Node.js, Consul).
 */
export const REMOTE_TIMEOUTS = { create: "20m", update: "20m", delete: "10m" };

/**
 * SSH dial attempts per step (each up to perDialTimeout, 15 s). A booting machine refuses a few
 * minutes' worth; a rejected key fails every attempt at once, so the step ends in seconds, not
 * at REMOTE_TIMEOUTS.
 */
export const SSH_DIAL_ATTEMPTS = 60;

/** A jump host every SSH connection goes through (`SshArgs.proxy`). */
export interface SshBastion {
  /** Address of the bastion (jump host) every SSH connection goes through. Required. */
  host: pulumi.Input<string>;
  /** Login on the bastion. Defaults to the machines' login user. */
  user?: pulumi.Input<string>;
  /** SSH port of the bastion. Defaults to 22. */
  port?: number;
  /** OpenSSH private key for the bastion; secret. Defaults to the machines' private key. */
  privateKey?: pulumi.Input<string>;
}

/** SSH access the components' remote commands use. */
export interface SshArgs {
  /** Login user. Defaults to "ubuntu" (Ubuntu AMIs). */
  user?: string;
  /** OpenSSH private key matching the key pair; keep it a secret. Required. */
  privateKey: pulumi.Input<string>;
  /**
   * Public keys written to every machine's authorized_keys after boot (one OpenSSH line each); the
   * private key above must match one of them. The key pair only seeds the first boot, so this is
   * what rotates a key without replacing machines. Defaults to none: authorized_keys keeps the
   * key pair's key.
   */
  authorizedKeys?: pulumi.Input<pulumi.Input<string>[]>;
  /** Bastion for runners outside `ssh.allowedCidr` (@pulumi/command `connection.proxy`). Defaults to none. */
  proxy?: SshBastion;
}

export interface MachineArgs {
  network: RegionNetwork;
  role: Role;
  instanceType: string;
  /**
   * cloud-init user data. Must be the same for the machine's whole life and independent of what
   * operators change: a change replaces the instance, and ignoring it would boot a replacement
   * with the old text. Deliver the rest with machineStep.
   */
  userData: pulumi.Input<string>;
  /**
   * SSH access for the boot check and authorized keys. Defaults to none: no check (only for
   * callers that wait for cloud-init themselves).
   */
  ssh?: SshArgs;
  /**
   * Resources the machine's remote commands need besides its network's SSH rule (e.g. rules a
   * component was given); the boot check, and so every later command, depends on them.
   * Defaults to none.
   */
  firewall?: pulumi.Input<pulumi.Resource>[];
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
  /** SSH connection to the machine (with `ssh`). */
  connection?: command.types.input.remote.ConnectionArgs;
  /**
   * Succeeds once cloud-init finished without errors and fails `pulumi up` otherwise (with `ssh`).
   * Every later remote command on the machine depends on it.
   */
  booted?: command.remote.Command;
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
    {
      parent,
      // apt at boot needs the route to the internet: without these edges the engine may launch
      // the instance before the gateway, route table or association exist.
      dependsOn: m.network.internetReady,
      // keyName forces a new instance and the key pair is only read at first boot, so a rotated
      // key (a new key pair) must not touch existing machines: authorizedKeys delivers it.
      ignoreChanges: m.ami ? ["keyName"] : ["keyName", "ami"],
    },
  );
  const association = new aws.ec2.EipAssociation(
    `${name}-eip-assoc`,
    { region, allocationId: address.allocationId, instanceId: instance.id },
    { parent, dependsOn: [m.network.internetGateway] },
  );
  const machine: Machine = {
    instance,
    publicIp: address.publicIp,
    privateIp: instance.privateIp,
    association,
  };
  if (!m.ssh) return machine;

  const connection = sshConnection(address.publicIp, m.ssh);
  const onHost = { parent, deletedWith: instance, customTimeouts: REMOTE_TIMEOUTS };
  machine.connection = connection;
  machine.booted = new command.remote.Command(
    `${name}-cloud-init`,
    {
      connection,
      create: cloudInitCheckScript(),
      // Runs once per instance: a new instance is a new boot to check.
      triggers: [instance.id],
      addPreviousOutputInEnv: false,
    },
    {
      ...onHost,
      // Every later command on this machine runs after this one, so after the SSH rule exists.
      dependsOn: [
        association,
        ...m.network.flowRules("operator-ssh", m.role),
        ...(m.firewall ?? []),
      ],
    },
  );
  if (m.ssh.authorizedKeys !== undefined) {
    new command.remote.Command(
      `${name}-ssh-keys`,
      {
        connection,
        // A change of keys updates this command (runs it again); only a new instance replaces it.
        create: pulumi.output(m.ssh.authorizedKeys).apply((keys) => authorizedKeysScript(keys)),
        triggers: [instance.id],
        addPreviousOutputInEnv: false,
      },
      { ...onHost, dependsOn: [machine.booted] },
    );
  }
  return machine;
}

/**
 * A step on a machine after its boot check: runs `create` once per instance (`triggers`) and
 * again in place (an update) whenever `create` or `stdin` changes, so what it delivers must be
 * idempotent. stdin is marked secret. Deleted with the instance, bounded by REMOTE_TIMEOUTS.
 */
export function machineStep(
  name: string,
  m: Machine,
  args: { create: pulumi.Input<string>; stdin?: pulumi.Input<string> },
  opts: { parent: pulumi.Resource; dependsOn?: pulumi.Input<pulumi.Resource>[] },
): command.remote.Command {
  if (!m.connection || !m.booted)
    throw new Error(`${name}: a machine step needs the machine's SSH access`);
  return new command.remote.Command(
    name,
    {
      connection: m.connection,
      create: args.create,
      ...(args.stdin === undefined ? {} : { stdin: pulumi.secret(args.stdin) }),
      triggers: [m.instance.id],
      addPreviousOutputInEnv: false,
    },
    {
      parent: opts.parent,
      deletedWith: m.instance,
      dependsOn: [m.booted, ...(opts.dependsOn ?? [])],
      customTimeouts: REMOTE_TIMEOUTS,
    },
  );
}

/**
 * SSH connection for remote commands: waits out the instance boot instead of failing after ~10 s,
 * through the bastion when one is configured.
 */
export function sshConnection(
  host: pulumi.Input<string>,
  ssh: SshArgs,
): command.types.input.remote.ConnectionArgs {
  const user = ssh.user ?? "ubuntu";
  const connection: command.types.input.remote.ConnectionArgs = {
    host,
    user,
    privateKey: ssh.privateKey,
    dialErrorLimit: SSH_DIAL_ATTEMPTS,
    perDialTimeout: 15,
  };
  if (ssh.proxy) {
    connection.proxy = {
      host: ssh.proxy.host,
      port: ssh.proxy.port ?? 22,
      user: ssh.proxy.user ?? user,
      privateKey: ssh.proxy.privateKey ?? ssh.privateKey,
      dialErrorLimit: SSH_DIAL_ATTEMPTS,
      perDialTimeout: 15,
    };
  }
  return connection;
}
