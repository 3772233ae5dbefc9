// The local stack the rehearsal deploys, and where its machines live on the testbed.
//
// The stack config is what a user would write for two regions (the article's two entry points),
// with three differences that the testbed dictates: swarm mode (no standalone Swarm image is
// reachable here), one Consul server (no Consul binary: nothing runs on it), and addresses: the
// operator network (`ssh.allowedCidr`) is the root namespace's bridge address, and each entry
// point admits its own region's /27 of the testbed subnet.
//
// Addresses: the testbed is one /24 (`net`). Region r (1-based, in config order) owns
// <net>.(32r)/27: its machines get <net>.(32r+1), +2, ... in the program's machine order (the
// Elastic IP of each machine is its namespace's address), and a client namespace sits at
// <net>.(32r+30). An outsider, in no region and not the operator, sits at <net>.250.

/** A real ed25519 public key whose private half was discarded; nothing here uses SSH. */
const REHEARSAL_SSH_PUBLIC_KEY =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKmjyrLnhipsnBdBz3QE+aRio5B+71E755noO0asOK0L geoswarm-rehearsal";

const ENTRY_PORTS: Record<string, number> = { r1nginx: 22001, r2nginx: 22002 };
const REGION_SIZE = 32;
const CLIENT_SLOT = 30;
const OUTSIDER = 250;

export interface RegionLayout {
  name: string;
  awsRegion: string;
  /** <net>.(32r)/27 */
  cidr: string;
  client: string;
}

/** The geoswarm config keys (without the namespace) of the local stack on subnet `net` (a.b.c). */
export function localStack(net: string): Record<string, unknown> {
  const r = regionLayout(net);
  const host = (name: string, labels: Record<string, string>) => ({
    name,
    instanceType: "t3.medium",
    labels,
  });
  return {
    coreRegion: "region-1",
    regions: [
      {
        name: "region-1",
        awsRegion: r[0].awsRegion,
        cidr: "10.10.0.0/16",
        hosts: [
          host("r1-host-1", { cpu: "standard", disk: "ssd" }),
          host("r1-host-2", { cpu: "standard", disk: "ssd" }),
        ],
      },
      {
        name: "region-2",
        awsRegion: r[1].awsRegion,
        cidr: "10.20.0.0/16",
        hosts: [host("r2-host-1", { cpu: "standard" }), host("r2-host-2", { cpu: "high" })],
      },
    ],
    consul: { servers: 1, instanceType: "t3.small", datacenter: "rehearsal" },
    swarm: { mode: "swarm", managerInstanceType: "t3.small" },
    balancer: { instanceType: "t3.small", apiUser: "geoswarm" },
    ssh: { publicKey: REHEARSAL_SSH_PUBLIC_KEY, allowedCidr: `${operatorAddress(net)}/32` },
    entryPoints: ["r1nginx", "r2nginx"].map((name, i) => ({
      name,
      region: r[i].name,
      serviceLabel: `${r[i].name}.nginx`,
      privatePort: 80,
      lbPort: ENTRY_PORTS[name],
      // The article's alternating host1/host2: round robin. ("weight", gobetween's default and the
      // prod stack's choice, is weighted random: requests do not alternate.)
      balance: "roundrobin",
      healthcheck: { kind: "ping", interval: "2s", timeout: "1s", fails: 2 },
      allowedCidr: r[i].cidr,
    })),
    elasticIps: "release",
  };
}

export function regionLayout(net: string): RegionLayout[] {
  return [
    ["region-1", "eu-central-1"],
    ["region-2", "us-east-1"],
  ].map(([name, awsRegion], i) => {
    const base = REGION_SIZE * (i + 1);
    return {
      name,
      awsRegion,
      cidr: `${net}.${base}/27`,
      client: `${net}.${base + CLIENT_SLOT}`,
    };
  });
}

export const operatorAddress = (net: string): string => `${net}.1`;
export const outsiderAddress = (net: string): string => `${net}.${OUTSIDER}`;

/**
 * Hands out machine addresses: a machine keeps its address across program runs (as its Elastic
 * IP would), a new machine gets its region's next free one.
 */
export class AddressBook {
  private readonly byMachine = new Map<string, string>();
  private readonly next = new Map<string, number>();

  constructor(private readonly net: string) {}

  /** The address of `machine` in the region whose AWS region is `awsRegion`. */
  address(machine: string, awsRegion: string): string {
    const known = this.byMachine.get(machine);
    if (known) return known;
    const regions = regionLayout(this.net);
    const i = regions.findIndex((r) => r.awsRegion === awsRegion);
    if (i < 0) throw new Error(`rehearsal: no testbed region for AWS region ${awsRegion}`);
    const slot = this.next.get(awsRegion) ?? 1;
    if (slot >= CLIENT_SLOT) throw new Error(`rehearsal: region ${regions[i].name} is full`);
    this.next.set(awsRegion, slot + 1);
    const ip = `${this.net}.${REGION_SIZE * (i + 1) + slot}`;
    this.byMachine.set(machine, ip);
    return ip;
  }

  /** The address the `k`-th (0-based) next new machine of `awsRegion` will get. */
  upcoming(awsRegion: string, k = 0): string {
    const i = regionLayout(this.net).findIndex((r) => r.awsRegion === awsRegion);
    const slot = (this.next.get(awsRegion) ?? 1) + k;
    if (i < 0 || slot >= CLIENT_SLOT)
      throw new Error(`rehearsal: no slot ${slot} for ${awsRegion}`);
    return `${this.net}.${REGION_SIZE * (i + 1) + slot}`;
  }

  machines(): [string, string][] {
    return [...this.byMachine.entries()];
  }
}
