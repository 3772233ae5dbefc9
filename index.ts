// The `prod` program (and any stack of this project): stack config → validated spec → one
// `Cluster`, the root of every resource → stack outputs.
import * as pulumi from "@pulumi/pulumi";
import { Cluster } from "./components/cluster";
import { CONFIG_NAMESPACE, readClusterSpec } from "./components/config";

const config = new pulumi.Config(CONFIG_NAMESPACE);
const spec = readClusterSpec(config);
const cluster = new Cluster(pulumi.getStack(), {
  spec,
  sshPrivateKey: config.requireSecret("sshPrivateKey"),
});

export const balancerApiUrl = cluster.balancer.apiUrl;
export const balancerApiUser = cluster.balancer.apiUser;
export const balancerApiPassword = cluster.balancer.apiPassword;
// The CA that signed the API's certificate (the cluster CA): `curl --cacert`.
export const balancerApiCaPem = cluster.balancer.apiCaPem;
export const consulUiUrl = cluster.balancer.consulUiUrl;
// The balancer's Elastic IP: entry points from container labels listen there on their label's port.
export const balancerIp = cluster.balancer.publicIp;
export const dockerHost = cluster.manager.dockerHost;
export const dockerClientTls = cluster.manager.clientTls;
export const hostIps = Object.fromEntries(
  Object.entries(cluster.hosts).map(([region, hosts]) => [region, hosts.map((h) => h.publicIp)]),
);
// The article's regional entry points (r1nginx, r2nginx, ...): LbServer resources registered on
// the balancer, docker discovery against the Swarm manager with label service=<region>.nginx.
export const entryPoints = cluster.entryPoints;
