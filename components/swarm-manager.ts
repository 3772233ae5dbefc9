import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { ElasticAddress } from "./addresses";
import type { DockerHostSwarmArgs } from "./docker-host";
import { installEngineTls, installSwarmUnit } from "./engine-tls";
import { createMachine, ownAddress, REMOTE_TIMEOUTS, type SshArgs } from "./machine";
import type { RegionNetwork } from "./network";
import {
  MANAGER_LABELS,
  managerUserData,
  SWARM_MANAGER_UNIT,
  swarmManagerUnit,
} from "./render/cloudinit";
import type { DockerCa } from "./tls";
import { DEFAULT_SWARM_IMAGE, TYPE_PREFIX } from "./types";

/** Arguments of {@link SwarmManager}. */
export interface SwarmManagerArgs {
  /** Network the manager runs in; it uses the `manager` security group. Required. */
  network: RegionNetwork;
  /** CA for the manager's server certificate and the client certificate it outputs. Required. */
  ca: DockerCa;
  /** "standalone" (article: `swarm manage` + Consul) or "swarm" (Docker swarm mode). Defaults to "standalone". */
  mode?: "standalone" | "swarm";
  /** Standalone scheduling strategy: "binpack", "spread" or "random". Defaults to "binpack". */
  strategy?: "binpack" | "spread" | "random";
  /** Standalone only, required there: `consul://<balancer EIP>:8500/swarmcluster`. */
  discoveryUrl?: pulumi.Input<string>;
  /**
   * SSH access: the boot check, authorized keys, the engine's TLS files and (swarm mode) reading
   * the worker join token run over it after boot. Required.
   */
  ssh: SshArgs;
  /** Standalone Swarm image. Defaults to "swarm:1.2.9". */
  image?: string;
  /** EC2 instance type. Defaults to "t3.small". */
  instanceType?: string;
  /** Pre-allocated Elastic IP. Defaults to a new EIP owned by the manager. */
  address?: ElasticAddress;
  /** AMI id. Defaults to the region's latest Ubuntu 24.04 amd64 image (then pinned). */
  ami?: pulumi.Input<string>;
}

/**
 * The cluster's scheduler, with an Elastic IP. Standalone: `swarm manage -H :2377 --strategy <s>`
 * with the Consul discovery URL, TLS on 2377. Swarm mode: `docker swarm init`, API on 2376 (TLS),
 * worker token read over SSH and kept secret. Holds no state worth keeping: recreate at will.
 */
export class SwarmManager extends pulumi.ComponentResource {
  public readonly publicIp: pulumi.Output<string>;
  /** Secret-free: `tcp://<EIP>:2377` (standalone) or `tcp://<EIP>:2376` (swarm mode). */
  public readonly dockerHost: pulumi.Output<string>;
  /**
   * Client TLS material for DOCKER_HOST (DOCKER_TLS_VERIFY=1, DOCKER_CERT_PATH=<dir with these>).
   * Secret (the whole bundle is marked secret).
   */
  public readonly clientTls: pulumi.Output<{ caPem: string; certPem: string; keyPem: string }>;
  /** What DockerHost needs to join this manager's cluster. */
  public readonly hostJoin: DockerHostSwarmArgs;
  public readonly mode: "standalone" | "swarm";

  constructor(name: string, args: SwarmManagerArgs, opts?: pulumi.ComponentResourceOptions) {
    super(`${TYPE_PREFIX}SwarmManager`, name, {}, opts);
    const mode = args.mode ?? "standalone";
    const image = args.image ?? DEFAULT_SWARM_IMAGE;
    this.mode = mode;
    if (mode === "standalone" && args.discoveryUrl === undefined) {
      throw new Error(`SwarmManager ${name}: standalone mode needs discoveryUrl`);
    }
    if (!args.ssh) throw new Error(`SwarmManager ${name}: needs ssh (got ${args.ssh})`);
    const address = args.address ?? ownAddress(name, args.network.awsRegion, this);
    // Standalone: the manager serves clients and dials engines with the same certificate.
    const serverCert = args.ca.issueEndpoint(name, address.publicIp, this, { client: true });
    const clientCert = args.ca.issue(
      `${name}-client`,
      { commonName: "geoswarm operator", client: true },
      this,
    );

    // The same for the manager's whole life: its certificate and (standalone) its manager unit
    // with the image, strategy and discovery URL come after boot.
    const userData = address.publicIp.apply((publicIp) =>
      managerUserData({ hostname: name, publicIp, swarmMode: mode === "swarm" }),
    );
    const m = createMachine(
      name,
      {
        network: args.network,
        role: "manager",
        instanceType: args.instanceType ?? "t3.small",
        userData,
        ssh: args.ssh,
        address,
        ami: args.ami,
      },
      this,
    );
    const tls = installEngineTls(
      name,
      m,
      { caPem: args.ca.caPem, cert: serverCert },
      { labels: MANAGER_LABELS, swarmMode: mode === "swarm" },
      this,
    );

    if (mode === "standalone") {
      const strategy = args.strategy ?? "binpack";
      installSwarmUnit(
        `${name}-swarm-manager`,
        m,
        {
          name: SWARM_MANAGER_UNIT,
          content: pulumi
            .output(args.discoveryUrl ?? "")
            .apply((discoveryUrl) => swarmManagerUnit({ image, strategy, discoveryUrl })),
        },
        tls,
        this,
      );
    }
    if (mode === "swarm") {
      const token = new command.remote.Command(
        `${name}-join-token`,
        {
          connection: m.connection!,
          create: "sudo docker swarm join-token -q worker",
          triggers: [m.instance.id],
          addPreviousOutputInEnv: false,
          logging: "none",
        },
        {
          parent: this,
          dependsOn: [tls],
          deletedWith: m.instance,
          additionalSecretOutputs: ["stdout"],
          customTimeouts: REMOTE_TIMEOUTS,
        },
      );
      this.hostJoin = {
        mode: "swarm",
        managerAddr: pulumi.interpolate`${address.publicIp}:2377`,
        token: pulumi.secret(token.stdout),
      };
      this.dockerHost = pulumi.interpolate`tcp://${address.publicIp}:2376`;
    } else {
      this.hostJoin = { mode: "standalone", discoveryUrl: args.discoveryUrl ?? "", image };
      this.dockerHost = pulumi.interpolate`tcp://${address.publicIp}:2377`;
    }
    this.publicIp = address.publicIp;
    this.clientTls = pulumi.secret(
      pulumi
        .all([args.ca.caPem, clientCert.certPem, clientCert.keyPem])
        .apply(([caPem, certPem, keyPem]) => ({
          caPem,
          certPem,
          keyPem,
        })),
    );
    this.registerOutputs({
      publicIp: this.publicIp,
      dockerHost: this.dockerHost,
      clientTls: this.clientTls,
    });
  }
}
