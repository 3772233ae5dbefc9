// Public API of the geoswarm component library: `import { DockerHost } from "geoswarm"`.

export { ClusterAddresses, type ClusterAddressesArgs, type ElasticAddress } from "./addresses";
export { Balancer, type BalancerArgs, type BalancerDockerTls } from "./balancer";
export { Cluster, type ClusterArgs } from "./cluster";
export {
  type ClusterSpec,
  type EntryPointSpec,
  parseClusterSpec,
  type RegionSpec,
  readClusterSpec,
  StackConfigError,
} from "./config";
export { ConsulCluster, type ConsulClusterArgs } from "./consul";
export { DockerHost, type DockerHostArgs, type DockerHostSwarmArgs } from "./docker-host";
export { buildEntryPoints, entryPointLabel, entryPointServer } from "./entry-points";
export {
  type DeepInput,
  LbServer,
  type LbServerApiArgs,
  type LbServerArgs,
  type LbServerSpec,
} from "./lb-server";
export type { SshArgs } from "./machine";
export { RegionNetwork, type RegionNetworkArgs } from "./network";
export { type FirewallRule, type MachinePlan, planFirewall, planMachines, type Role } from "./plan";
export { SwarmManager, type SwarmManagerArgs } from "./swarm-manager";
export { DockerCa, type DockerCaArgs } from "./tls";
export { TYPE_PREFIX } from "./types";
