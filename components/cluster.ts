import * as pulumi from "@pulumi/pulumi";
import { ClusterAddresses } from "./addresses";
import { Balancer } from "./balancer";
import type { ClusterSpec } from "./config";
import { ConsulCluster } from "./consul";
import { DockerHost } from "./docker-host";
import { buildEntryPoints } from "./entry-points";
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

export interface ClusterOptions {
  /** OpenSSH private key for remote commands (balancer; swarm-mode manager). Secret. */
  sshPrivateKey: pulumi.Input<string>;
  /** Balancer artifact path. Defaults to the package's lb/dist/geoswarm-lb.cjs. */
  artifactPath?: string;
}

/** Everything `index.ts` exports, built from a validated spec. */
export function buildCluster(spec: ClusterSpec, opts: ClusterOptions) {
  const machines = planMachines(spec);
  const rules = planFirewall(spec);
  const addresses = new ClusterAddresses("geoswarm", { machines });
  const core = spec.coreRegion;

  const networks: Record<string, RegionNetwork> = {};
  for (const r of spec.regions) {
    const roles: Role[] = r.name === core ? ["consul", "balancer", "manager", "host"] : ["host"];
    networks[r.name] = new RegionNetwork(`net-${r.name}`, {
      awsRegion: r.awsRegion,
      cidr: r.cidr,
      sshPublicKey: spec.ssh.publicKey,
      roles,
      rules,
      machineIps: addresses.publicIps,
    });
  }
  const coreNet = networks[core];
  const ssh = { user: spec.ssh.user, privateKey: pulumi.secret(opts.sshPrivateKey) };
  const ca = new DockerCa("docker-ca");

  const consul = new ConsulCluster("consul", {
    network: coreNet,
    addresses: Array.from({ length: spec.consul.servers }, (_, i) =>
      addresses.get(consulServerName(i)),
    ),
    instanceType: spec.consul.instanceType,
    datacenter: spec.consul.datacenter,
    version: spec.consul.version,
  });

  const clusterIps = machines
    .filter((m) => m.name !== BALANCER_NAME)
    .map((m) => addresses.publicIps[m.name]);
  const balancer = new Balancer("lb", {
    network: coreNet,
    consul,
    ssh,
    address: addresses.get(BALANCER_NAME),
    consulClients: [...clusterIps, spec.ssh.allowedCidr],
    instanceType: spec.balancer.instanceType,
    apiUser: spec.balancer.apiUser,
    apiPort: spec.balancer.apiPort,
    nodeVersion: spec.balancer.nodeVersion,
    workers: spec.balancer.workers,
    nodeSha256: spec.balancer.nodeSha256,
    artifactPath: opts.artifactPath,
    lowestPort: Math.min(1024, ...spec.entryPoints.map((e) => e.lbPort)),
    dockerCa: ca,
  });

  const manager = new SwarmManager("manager", {
    network: coreNet,
    ca,
    mode: spec.swarm.mode,
    strategy: spec.swarm.strategy,
    discoveryUrl: spec.swarm.mode === "standalone" ? balancer.swarmDiscoveryUrl : undefined,
    ssh: spec.swarm.mode === "swarm" ? ssh : undefined,
    image: spec.swarm.image,
    instanceType: spec.swarm.managerInstanceType,
    address: addresses.get(MANAGER_NAME),
  });

  const hosts: Record<string, DockerHost[]> = {};
  for (const r of spec.regions) {
    hosts[r.name] = r.hosts.map(
      (h) =>
        new DockerHost(h.name, {
          region: r.name,
          labels: h.labels,
          network: networks[r.name],
          ca,
          swarm: manager.hostJoin,
          instanceType: h.instanceType,
          address: addresses.get(h.name),
        }),
    );
  }

  // The regional entry points: LbServer resources on the balancer, docker discovery against
  // the manager. Their addresses resolve once the server is registered.
  const lbServers = buildEntryPoints(spec.entryPoints, balancer, manager);
  const entryPoints = Object.fromEntries(
    spec.entryPoints.map((e) => [
      e.name,
      pulumi.all([balancer.publicIp, lbServers[e.name].id]).apply(([ip]) => `${ip}:${e.lbPort}`),
    ]),
  );

  return { addresses, networks, ca, consul, balancer, manager, hosts, lbServers, entryPoints };
}
