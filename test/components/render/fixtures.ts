// Plain inputs for the pure renderers (TEST-NET addresses, fake PEM text).
import type { TlsFiles } from "../../../components/render/cloudinit";
import { consulClientConfig, consulServerConfig } from "../../../components/render/consul";

export const IPS = {
  balancer: "198.51.100.10",
  manager: "198.51.100.20",
  consul: ["198.51.100.31", "198.51.100.32", "198.51.100.33"],
  host: "203.0.113.7",
};

export const GOSSIP = Buffer.alloc(32, 42).toString("base64");

export const TLS: TlsFiles = {
  caPem: "-----BEGIN CERTIFICATE-----\nMIIBfakeCA\n-----END CERTIFICATE-----\n",
  certPem: "-----BEGIN CERTIFICATE-----\nMIIBfakeHost\n-----END CERTIFICATE-----\n",
  keyPem: "-----BEGIN EC PRIVATE KEY-----\nMHcfakeKey\n-----END EC PRIVATE KEY-----\n",
};

export const DISCOVERY = `consul://${IPS.balancer}:8500/swarmcluster`;

export const serverConfig = (i: number) =>
  consulServerConfig({
    datacenter: "production",
    nodeName: `consul-${i + 1}`,
    advertiseIp: IPS.consul[i],
    serverIps: IPS.consul,
    gossipKey: GOSSIP,
  });

export const clientConfig = () =>
  consulClientConfig({
    datacenter: "production",
    nodeName: "balancer",
    advertiseIp: IPS.balancer,
    serverIps: IPS.consul,
    gossipKey: GOSSIP,
  });
