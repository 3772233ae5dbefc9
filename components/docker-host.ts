import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { ElasticAddress } from "./addresses";
import { installEngineTls, installSwarmUnit } from "./engine-tls";
import { createMachine, ownAddress, REMOTE_TIMEOUTS, type SshArgs } from "./machine";
import type { RegionNetwork } from "./network";
import { dockerHostUserData, SWARM_AGENT_UNIT, swarmAgentUnit } from "./render/cloudinit";
import { swarmJoinScript } from "./render/machine-scripts";
import type { DockerCa } from "./tls";
import { DEFAULT_SWARM_IMAGE, TYPE_PREFIX } from "./types";

/** How a host joins the cluster; SwarmManager.hostJoin gives the right one. */
export type DockerHostSwarmArgs =
  | {
      mode: "standalone";
      /** `consul://<balancer EIP>:8500/swarmcluster`. */
      discoveryUrl: pulumi.Input<string>;
      /** Swarm image. Defaults to "swarm:1.2.9". */
      image?: string;
    }
  | {
      mode: "swarm";
      /** `<manager EIP>:2377`. */
      managerAddr: pulumi.Input<string>;
      /** Worker join token; secret. Delivered over SSH after boot, never in user data. */
      token: pulumi.Input<string>;
    };

/** Where a swarm-mode worker keeps the token it joined with (to notice a new swarm). */
export const SWARM_TOKEN_FILE = "/etc/geoswarm/swarm-token";

/** Arguments of {@link DockerHost}. */
export interface DockerHostArgs {
  /** geoswarm region name, set as the engine label `region`. Required. */
  region: string;
  /** More engine labels (CPU class, memory size, disk type, ...). Defaults to none. */
  labels?: Record<string, string>;
  /** Network of the host's AWS region; the host uses its `host` security group. Required. */
  network: RegionNetwork;
  /** CA that signs the engine's TLS certificate. Required. */
  ca: DockerCa;
  /** Cluster membership (standalone Swarm agent or swarm-mode worker). Required. */
  swarm: DockerHostSwarmArgs;
  /**
   * SSH access: the boot check, authorized keys, the engine's TLS files and the swarm-mode join
   * run over it after boot. Required.
   */
  ssh: SshArgs;
  /** EC2 instance type. Defaults to "t3.medium". */
  instanceType?: string;
  /** Pre-allocated Elastic IP. Defaults to a new EIP owned by this host. */
  address?: ElasticAddress;
  /** AMI id. Defaults to the region's latest Ubuntu 24.04 amd64 image (then pinned). */
  ami?: pulumi.Input<string>;
  /** Root volume size in GiB. Defaults to 30. */
  rootVolumeGb?: number;
}

/**
 * A Docker engine on EC2 with an Elastic IP: engine labels (`region` plus any others), the API on
 * the unix socket and on 2376 with TLS (certificate with the EIP in its SANs), and membership in
 * the cluster (standalone Swarm agent via Consul, or swarm-mode worker).
 */
export class DockerHost extends pulumi.ComponentResource {
  public readonly publicIp: pulumi.Output<string>;
  public readonly privateIp: pulumi.Output<string>;
  public readonly instanceId: pulumi.Output<string>;
  /** `tcp://<EIP>:2376` — the engine's own TLS endpoint. */
  public readonly dockerHost: pulumi.Output<string>;
  public readonly labels: Record<string, string>;

  constructor(name: string, args: DockerHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super(`${TYPE_PREFIX}DockerHost`, name, {}, opts);
    if (args.labels && "region" in args.labels && args.labels.region !== args.region) {
      throw new Error(`DockerHost ${name}: labels.region conflicts with region ${args.region}`);
    }
    this.labels = { ...args.labels, region: args.region };
    const address = args.address ?? ownAddress(name, args.network.awsRegion, this);
    const cert = args.ca.issueEndpoint(name, address.publicIp, this);
    // The same for the host's whole life: labels, the Swarm agent (image, discovery URL),
    // certificates and the join token all come after boot.
    const userData = dockerHostUserData({ hostname: name, swarmMode: args.swarm.mode === "swarm" });
    const m = createMachine(
      name,
      {
        network: args.network,
        role: "host",
        instanceType: args.instanceType ?? "t3.medium",
        userData,
        ssh: args.ssh,
        address,
        ami: args.ami,
        rootVolumeGb: args.rootVolumeGb ?? 30,
      },
      this,
    );
    const tls = installEngineTls(
      name,
      m,
      { caPem: args.ca.caPem, cert },
      { labels: this.labels, swarmMode: args.swarm.mode === "swarm" },
      this,
    );
    if (args.swarm.mode === "standalone") {
      const agent = args.swarm;
      installSwarmUnit(
        `${name}-swarm-agent`,
        m,
        {
          name: SWARM_AGENT_UNIT,
          content: pulumi
            .all([address.publicIp, agent.discoveryUrl])
            .apply(([publicIp, discoveryUrl]) =>
              swarmAgentUnit({ image: agent.image ?? DEFAULT_SWARM_IMAGE, publicIp, discoveryUrl }),
            ),
        },
        tls,
        this,
      );
    } else {
      const join = args.swarm;
      new command.remote.Command(
        `${name}-swarm-join`,
        {
          connection: m.connection!,
          create: pulumi
            .all([address.publicIp, join.managerAddr])
            .apply(([ip, managerAddr]) => swarmJoinScript(ip, managerAddr, SWARM_TOKEN_FILE)),
          // A new manager means a new token: an update, which leaves the old swarm and joins.
          stdin: pulumi.secret(pulumi.interpolate`${join.token}\n`),
          triggers: [m.instance.id],
          addPreviousOutputInEnv: false,
        },
        {
          parent: this,
          deletedWith: m.instance,
          dependsOn: [tls],
          customTimeouts: REMOTE_TIMEOUTS,
        },
      );
    }
    this.publicIp = address.publicIp;
    this.privateIp = m.privateIp;
    this.instanceId = m.instance.id;
    this.dockerHost = pulumi.interpolate`tcp://${address.publicIp}:2376`;
    this.registerOutputs({
      publicIp: this.publicIp,
      instanceId: this.instanceId,
      dockerHost: this.dockerHost,
    });
  }
}
