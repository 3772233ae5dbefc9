/**
 * Every geoswarm component: `import { Cluster } from "@geoswarm/geoswarm"`. Needs the peer
 * dependencies `@pulumi/pulumi`, `@pulumi/aws`, `@pulumi/command`, `@pulumi/random` and
 * `@pulumi/tls`. An app stack that only registers servers on a platform's balancer imports
 * `@geoswarm/geoswarm/lb-server` instead, which needs `@pulumi/pulumi` alone.
 *
 * @module @geoswarm/geoswarm
 */
// Every export here is documented: TypeDoc's validation (typedoc.json) fails otherwise, and
// test/package/docs.test.ts runs it. The types of the arguments and outputs are exported too.

export { ClusterAddresses, type ClusterAddressesArgs, type ElasticAddress } from "./addresses";
export {
  Balancer,
  type BalancerArgs,
  type BalancerDockerTls,
  type BalancerLabelsArgs,
} from "./balancer";
export { Cluster, type ClusterArgs } from "./cluster";
export {
  type ClusterSpec,
  type EntryPointSpec,
  type LabelsSpec,
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
export type { SshArgs, SshBastion } from "./machine";
export type { NativeDataPath } from "./native-data-path";
export { type EipQuotaCheck, RegionNetwork, type RegionNetworkArgs } from "./network";
export type { EipQuota, InstanceTypeUse } from "./placement";
export {
  type FirewallRule,
  type MachinePlan,
  type Protocol,
  planFirewall,
  planMachines,
  type Role,
} from "./plan";
export { SwarmManager, type SwarmManagerArgs } from "./swarm-manager";
export { DockerCa, type DockerCaArgs, type IssueArgs, type IssuedCert } from "./tls";
export { TYPE_PREFIX } from "./types";
