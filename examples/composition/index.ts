// Composition stack: one region, three Consul servers, the balancer, a standalone Swarm manager
// and two labelled Docker hosts, composed by hand from the individual geoswarm components (the
// platform example gets all of this, for several regions, from one Cluster and its config).
import {
  Balancer,
  ClusterAddresses,
  ConsulCluster,
  DockerCa,
  DockerHost,
  type FirewallRule,
  LbServer,
  RegionNetwork,
  type Role,
  SwarmManager,
} from "@geoswarm/geoswarm";
import * as pulumi from "@pulumi/pulumi";

const config = new pulumi.Config();
const ssh = { privateKey: config.requireSecret("sshPrivateKey") };
// The network `pulumi up` runs from: SSH, the balancer's API and Consul UI are open to it only.
const operatorCidr = config.require("operatorCidr");
const awsRegion = "eu-west-1";

// Addresses first: firewall rules and configs name machines before any machine exists.
const consulNames = ["consul-1", "consul-2", "consul-3"];
const hostLayout: { name: string; labels: Record<string, string> }[] = [
  { name: "lab-gpu", labels: { gpu: "t4" } },
  { name: "lab-cpu", labels: { cpu: "high" } },
];
const hostNames = hostLayout.map((h) => h.name);
const addresses = new ClusterAddresses("lab", {
  machines: [...consulNames, "lb", "manager", ...hostNames].map((name) => ({ name, awsRegion })),
});

const rule = (
  role: Role,
  protocol: "tcp" | "udp",
  ports: [number, number],
  sources: string[],
): FirewallRule[] =>
  sources.map((s) => ({
    role,
    protocol,
    fromPort: ports[0],
    toPort: ports[1],
    source: s.includes("/") ? { cidr: s } : { machine: s },
    description: `${protocol} ${ports.join("-")}`,
  }));
const network = new RegionNetwork("lab", {
  awsRegion,
  cidr: "10.50.0.0/16",
  sshPublicKey: config.require("sshPublicKey"),
  machineIps: addresses.publicIps,
  rules: [
    ...(["consul", "balancer", "manager", "host"] as const).flatMap((r) =>
      rule(r, "tcp", [22, 22], [operatorCidr]),
    ),
    ...rule("consul", "tcp", [8300, 8302], [...consulNames, "lb"]),
    ...rule("consul", "udp", [8301, 8302], [...consulNames, "lb"]),
    ...rule("consul", "tcp", [8500, 8500], ["lb"]),
    ...rule("balancer", "tcp", [8301, 8301], consulNames),
    ...rule("balancer", "udp", [8301, 8301], consulNames),
    ...rule("balancer", "tcp", [8500, 8500], ["manager", ...hostNames, operatorCidr]),
    ...rule("balancer", "tcp", [8888, 8888], [operatorCidr]),
    ...rule("host", "tcp", [2376, 2376], ["manager"]),
    // The balancer reaches containers on the ports Docker publishes (`-p 80`: 32768-60999).
    ...rule("host", "tcp", [32768, 60999], ["lb"]),
    ...rule("manager", "tcp", [2377, 2377], [operatorCidr, "lb"]),
    ...rule("balancer", "tcp", [8080, 8080], ["0.0.0.0/0"]),
  ],
});

const ca = new DockerCa("lab-ca");
const consul = new ConsulCluster("lab-consul", {
  network,
  ssh,
  addresses: consulNames.map((n) => addresses.get(n)),
});
const balancer = new Balancer("lab-lb", {
  network,
  consul,
  address: addresses.get("lb"),
  ssh,
  dockerCa: ca, // also serves the balancer's API over HTTPS with a certificate from this CA
  consulClients: [
    addresses.publicIps.manager,
    ...hostNames.map((n) => addresses.publicIps[n]),
    operatorCidr,
  ],
});
const manager = new SwarmManager("lab-manager", {
  network,
  ca,
  strategy: "spread",
  discoveryUrl: balancer.swarmDiscoveryUrl,
  address: addresses.get("manager"),
  ssh,
});
const hosts = hostLayout.map(
  (h) =>
    new DockerHost(h.name, {
      region: "lab",
      labels: h.labels,
      network,
      ca,
      swarm: manager.hostJoin,
      instanceType: "t3.large",
      address: addresses.get(h.name),
      ssh,
    }),
);

// A balancer server for the GPU host's web containers, registered through the balancer's API.
const tls = balancer.dockerTls!;
const web = new LbServer(
  "lab-web",
  {
    api: {
      url: balancer.apiUrl,
      username: balancer.apiUser,
      password: balancer.apiPassword,
      caPem: balancer.apiCaPem,
    },
    balancerId: balancer.instanceId,
    server: {
      bind: "0.0.0.0:8080",
      balance: "leastconn",
      discovery: {
        kind: "docker",
        docker_endpoint: manager.dockerHost,
        docker_container_label: "service=lab.web",
        docker_container_private_port: 80,
        docker_tls_enabled: true,
        docker_tls_cacert_path: tls.cacertPath,
        docker_tls_cert_path: tls.certPath,
        docker_tls_key_path: tls.keyPath,
        interval: "10s",
      },
      healthcheck: { kind: "ping", interval: "2s", timeout: "1s" },
    },
  },
  { parent: balancer, deletedWith: balancer.instance, dependsOn: [balancer.installCommand] },
);

export const webBind = web.bind;
export const dockerHost = manager.dockerHost;
export const dockerClientTls = manager.clientTls;
export const hostIps = hosts.map((h) => h.publicIp);
export const consulUiUrl = balancer.consulUiUrl;
