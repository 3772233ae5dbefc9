// Platform stack: the whole cluster from the stack config (Pulumi.<stack>.yaml), one Cluster.
import { Cluster, readClusterSpec } from "@geoswarm/geoswarm";
import * as pulumi from "@pulumi/pulumi";

const config = new pulumi.Config("geoswarm");
const cluster = new Cluster(pulumi.getStack(), {
  spec: readClusterSpec(config),
  sshPrivateKey: config.requireSecret("sshPrivateKey"),
});

// What app stacks read through a StackReference to register their own services.
export const balancerApiUrl = cluster.balancer.apiUrl;
export const balancerApiUser = cluster.balancer.apiUser;
export const balancerApiPassword = cluster.balancer.apiPassword; // secret
export const balancerApiCaPem = cluster.balancer.apiCaPem;
export const balancerId = cluster.balancer.instanceId;
export const dockerHost = cluster.manager.dockerHost;
