import * as pulumi from "@pulumi/pulumi";
import { ClusterAddresses } from "./addresses";
import { Balancer } from "./balancer";
import { type ClusterSpec, regionChecks } from "./config";
import { ConsulCluster } from "./consul";
import { DockerHost } from "./docker-host";
import { buildEntryPoints } from "./entry-points";
import { CONSUL_HTTP_PORT, managerDockerPort } from "./flows";
import type { LbServer } from "./lb-server";
import { RegionNetwork } from "./network";
import {
  BALANCER_NAME,
  consulServerName,
  MANAGER_NAME,
  planFirewall,
  planMachines,
  type Role,
} from "./plan";
import { SwarmManager } from "./swarm-manager";
import { DockerCa } from "./tls";
import { TYPE_PREFIX } from "./types";

/** Arguments of {@link Cluster}. */
export interface ClusterArgs {
  /**
   * The validated stack configuration (parseClusterSpec / readClusterSpec of the `geoswarm:`
   * keys). Required.
   */
  spec: ClusterSpec;
  /** OpenSSH private key matching `spec.ssh.publicKey`, for every remote command. Required; secret. */
  sshPrivateKey: pulumi.Input<string>;
  /** Balancer artifact path. Defaults to the geoswarm package's lb/dist/geoswarm-lb.cjs. */
  artifactPath?: string;
}

/**
 * The whole system of one stack: every region's network, the cluster's Elastic IPs, the Consul
 * servers, the balancer with its entry points, the Swarm manager and the labelled Docker hosts.
 * Everything it creates has it as an ancestor; `index.ts` is one `new Cluster(...)`, and another
 * stack gets the same system with one import.
 */
export class Cluster extends pulumi.ComponentResource {
  public readonly addresses: ClusterAddresses;
  public readonly networks: Record<string, RegionNetwork>;
  public readonly ca: DockerCa;
  public readonly consul: ConsulCluster;
  public readonly balancer: Balancer;
  public readonly manager: SwarmManager;
  /** Docker hosts by region name. */
  public readonly hosts: Record<string, DockerHost[]>;
  /** The LbServer of each entry point, by entry point name. */
  public readonly lbServers: Record<string, LbServer>;
  /** `<balancer EIP>:<lbPort>` of each entry point, known once its LbServer is registered. */
  public readonly entryPoints: Record<string, pulumi.Output<string>>;

  constructor(name: string, args: ClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super(`${TYPE_PREFIX}Cluster`, name, {}, opts);
    const built = buildCluster(args.spec, args, this);
    this.addresses = built.addresses;
    this.networks = built.networks;
    this.ca = built.ca;
    this.consul = built.consul;
    this.balancer = built.balancer;
    this.manager = built.manager;
    this.hosts = built.hosts;
    this.lbServers = built.lbServers;
    this.entryPoints = built.entryPoints;
    this.registerOutputs({
      balancerApiUrl: this.balancer.apiUrl,
      dockerHost: this.manager.dockerHost,
      entryPoints: this.entryPoints,
    });
  }
}

function buildCluster(spec: ClusterSpec, opts: ClusterArgs, parent: Cluster) {
  const machines = planMachines(spec);
  const rules = planFirewall(spec);
  const child = { parent };
  const addresses = new ClusterAddresses(
    "geoswarm",
    { machines, onDelete: spec.elasticIps },
    child,
  );
  const core = spec.coreRegion;

  const networks: Record<string, RegionNetwork> = {};
  const checks = regionChecks(spec);
  for (const r of spec.regions) {
    const roles: Role[] = r.name === core ? ["consul", "balancer", "manager", "host"] : ["host"];
    networks[r.name] = new RegionNetwork(
      `net-${r.name}`,
      {
        awsRegion: r.awsRegion,
        cidr: r.cidr,
        sshPublicKey: spec.ssh.publicKey,
        roles,
        rules,
        machineIps: addresses.publicIps,
        // Instance types (architecture, zone offerings) and the Elastic IP quota, by config key.
        ...checks[r.name],
      },
      child,
    );
  }
  const coreNet = networks[core];
  const ssh = {
    user: spec.ssh.user,
    privateKey: pulumi.secret(opts.sshPrivateKey),
    authorizedKeys: [spec.ssh.publicKey, ...spec.ssh.extraPublicKeys],
    proxy: spec.ssh.bastion,
  };
  const ca = new DockerCa("docker-ca", {}, child);

  const consul = new ConsulCluster(
    "consul",
    {
      network: coreNet,
      ssh,
      addresses: Array.from({ length: spec.consul.servers }, (_, i) =>
        addresses.get(consulServerName(i)),
      ),
      instanceType: spec.consul.instanceType,
      datacenter: spec.consul.datacenter,
      version: spec.consul.version,
    },
    child,
  );

  // Who may use the balancer's `consul` server: exactly the sources its security group admits
  // to that port (the operator; in standalone mode the manager and hosts for Swarm discovery),
  // so its access rules match the group; in swarm mode no machine needs Consul at all.
  const consulClients = rules
    .filter(
      (r) =>
        r.role === "balancer" && r.fromPort <= CONSUL_HTTP_PORT && CONSUL_HTTP_PORT <= r.toPort,
    )
    .map((r) => ("machine" in r.source ? addresses.publicIps[r.source.machine] : r.source.cidr));
  const balancer = new Balancer(
    "lb",
    {
      network: coreNet,
      consul,
      ssh,
      address: addresses.get(BALANCER_NAME),
      consulClients,
      instanceType: spec.balancer.instanceType,
      apiUser: spec.balancer.apiUser,
      apiPort: spec.balancer.apiPort,
      nodeVersion: spec.balancer.nodeVersion,
      workers: spec.balancer.workers,
      nativeDataPath: spec.balancer.nativeDataPath,
      nodeSha256: spec.balancer.nodeSha256,
      artifactPath: opts.artifactPath,
      lowestPort: Math.min(1024, ...spec.entryPoints.map((e) => e.lbPort)),
      dockerCa: ca,
      // The manager is created after the balancer (standalone Swarm discovers through it), so
      // its Docker API is addressed by its pre-allocated EIP: the same URL as manager.dockerHost.
      labels: spec.balancer.labels.enabled
        ? {
            dockerEndpoint: pulumi.interpolate`tcp://${addresses.get(MANAGER_NAME).publicIp}:${managerDockerPort(spec.swarm.mode)}`,
            portRange: spec.balancer.labels.portRange,
            drainGrace: spec.balancer.labels.drainGrace,
          }
        : undefined,
    },
    child,
  );

  const manager = new SwarmManager(
    "manager",
    {
      network: coreNet,
      ca,
      mode: spec.swarm.mode,
      strategy: spec.swarm.strategy,
      discoveryUrl: spec.swarm.mode === "standalone" ? balancer.swarmDiscoveryUrl : undefined,
      ssh,
      image: spec.swarm.image,
      instanceType: spec.swarm.managerInstanceType,
      address: addresses.get(MANAGER_NAME),
    },
    child,
  );

  const hosts: Record<string, DockerHost[]> = {};
  for (const r of spec.regions) {
    hosts[r.name] = r.hosts.map(
      (h) =>
        new DockerHost(
          h.name,
          {
            region: r.name,
            labels: h.labels,
            network: networks[r.name],
            ca,
            swarm: manager.hostJoin,
            ssh,
            instanceType: h.instanceType,
            address: addresses.get(h.name),
          },
          child,
        ),
    );
  }

  // The regional entry points: LbServer resources on the balancer, docker discovery against
  // the manager. Their addresses resolve once the server is registered.
  const lbServers = buildEntryPoints(
    spec.entryPoints,
    balancer,
    manager,
    coreNet.flowRules("operator-lb-api", "balancer"),
  );
  const entryPoints = Object.fromEntries(
    spec.entryPoints.map((e) => [
      e.name,
      pulumi.all([balancer.publicIp, lbServers[e.name].id]).apply(([ip]) => `${ip}:${e.lbPort}`),
    ]),
  );

  return { addresses, networks, ca, consul, balancer, manager, hosts, lbServers, entryPoints };
}
