import type * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { ElasticAddress } from "./addresses";
import { createMachine, type Machine, machineStep, ownAddress, type SshArgs } from "./machine";
import type { RegionNetwork } from "./network";
import { consulServerName } from "./plan";
import { consulServerUserData } from "./render/cloudinit";
import {
  type ConsulConfig,
  consulClientConfig,
  consulServerConfig,
  renderConsulConfig,
} from "./render/consul";
import { consulInstallScript, type ExtraFile } from "./render/consul-install";
import { DEFAULT_CONSUL_VERSION, TYPE_PREFIX } from "./types";

/** Arguments of {@link ConsulCluster}. */
export interface ConsulClusterArgs {
  /** Network (region) the servers run in; they use its `consul` security group. Required. */
  network: RegionNetwork;
  /** SSH access for each server's boot check and authorized keys. Required. */
  ssh: SshArgs;
  /** Number of servers, odd. Defaults to 3 (or to `addresses.length` when addresses are given). */
  servers?: number;
  /** Pre-allocated EIPs, one per server. Defaults to a new EIP per server owned by this component. */
  addresses?: ElasticAddress[];
  /** EC2 instance type of each server. Defaults to "t3.small". */
  instanceType?: string;
  /** Consul datacenter name. Defaults to "production" (as in the article). */
  datacenter?: string;
  /** Consul Debian package version (apt.releases.hashicorp.com). Defaults to "1.20.2-1". */
  version?: string;
  /** AMI id for every server. Defaults to the region's latest Ubuntu 24.04 (then pinned). */
  ami?: pulumi.Input<string>;
}

/**
 * N Consul servers that form their cluster on their own: `bootstrap_expect = N` and `retry_join`
 * on the other servers' EIPs replace the article's manual bootstrap/restart. Gossip is encrypted
 * with a 32-byte key from @pulumi/random, kept secret. systemd runs the agent; the UI is on. The
 * agents are installed after boot and upgraded in place, one server at a time (`agents`).
 */
export class ConsulCluster extends pulumi.ComponentResource {
  public readonly serverIps: pulumi.Output<string>[];
  /** Secret. */
  public readonly gossipKey: pulumi.Output<string>;
  public readonly datacenter: string;
  public readonly version: string;
  /** Each server's agent install step, in roll order (server k+1's depends on server k's). */
  public readonly agents: command.remote.Command[];

  constructor(name: string, args: ConsulClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super(`${TYPE_PREFIX}ConsulCluster`, name, {}, opts);
    const count = args.addresses?.length ?? args.servers ?? 3;
    if (args.servers !== undefined && args.addresses && args.servers !== args.addresses.length) {
      throw new Error(
        `ConsulCluster ${name}: servers (${args.servers}) != addresses.length (${args.addresses.length})`,
      );
    }
    if (count < 1 || count % 2 === 0)
      throw new Error(`ConsulCluster ${name}: servers must be odd, got ${count}`);
    this.datacenter = args.datacenter ?? "production";
    this.version = args.version ?? DEFAULT_CONSUL_VERSION;

    const key = new random.RandomBytes(`${name}-gossip-key`, { length: 32 }, { parent: this });
    this.gossipKey = pulumi.secret(key.base64);

    const nodes = Array.from({ length: count }, (_, i) => consulServerName(i));
    const addresses = nodes.map(
      (n, i) => args.addresses?.[i] ?? ownAddress(`${name}-${n}`, args.network.awsRegion, this),
    );
    this.serverIps = addresses.map((a) => a.publicIp);

    // Each server's agent (package, config, unit) is installed after boot by a step that runs
    // again in place when the version or config changes. The steps form a chain and a restarted
    // server's step waits for the whole cluster, so a change rolls over one server at a time.
    let previous: command.remote.Command | undefined;
    this.agents = nodes.map((node, i) => {
      const m = createMachine(
        `${name}-${node}`,
        {
          network: args.network,
          role: "consul",
          instanceType: args.instanceType ?? "t3.small",
          userData: consulServerUserData({ hostname: node }),
          ssh: args.ssh,
          address: addresses[i],
          ami: args.ami,
        },
        this,
      );
      const config = pulumi
        .all([addresses[i].publicIp, pulumi.all(this.serverIps), this.gossipKey])
        .apply(([ip, serverIps, gossipKey]) =>
          renderConsulConfig(
            consulServerConfig({
              datacenter: this.datacenter,
              nodeName: node,
              advertiseIp: ip,
              serverIps,
              gossipKey,
            }),
          ),
        );
      const step = machineStep(
        `${name}-${node}-consul`,
        m,
        {
          create: consulInstallScript({
            version: this.version,
            nodeName: node,
            httpAddr: "http://127.0.0.1:8500",
            servers: nodes,
          }),
          stdin: config,
        },
        { parent: this, dependsOn: previous ? [previous] : [] },
      );
      previous = step;
      return step;
    });
    this.registerOutputs({ serverIps: this.serverIps, gossipKey: this.gossipKey });
  }

  /**
   * Installs a client agent joining these servers on `machine` after its boot (the balancer's),
   * with the same version; runs again in place when the version or config changes.
   *
   * @internal The Balancer's wiring, not part of the library's API.
   */
  installClientAgent(
    stepName: string,
    machine: Machine,
    nodeName: string,
    opts: { parent: pulumi.Resource; files?: ExtraFile[]; httpPort: number },
  ): command.remote.Command {
    return machineStep(
      stepName,
      machine,
      {
        create: consulInstallScript({
          version: this.version,
          nodeName,
          httpAddr: `http://127.0.0.1:${opts.httpPort}`,
          servers: [],
          files: opts.files,
        }),
        stdin: this.clientConfig(nodeName, machine.publicIp).apply(renderConsulConfig),
      },
      // After the last server's step: the agent joins a formed cluster, and a version change
      // upgrades it after every server, as HashiCorp's upgrade order says.
      { parent: opts.parent, dependsOn: this.agents.slice(-1) },
    );
  }

  /** Config of a client agent (the balancer's) joining these servers; secret (gossip key). */
  clientConfig(nodeName: string, advertiseIp: pulumi.Input<string>): pulumi.Output<ConsulConfig> {
    return pulumi
      .all([advertiseIp, pulumi.all(this.serverIps), this.gossipKey])
      .apply(([ip, serverIps, gossipKey]) =>
        consulClientConfig({
          datacenter: this.datacenter,
          nodeName,
          advertiseIp: ip,
          serverIps,
          gossipKey,
        }),
      );
  }
}
