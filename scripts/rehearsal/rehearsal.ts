// The rehearsal: the program (index.ts: one Cluster) run under mocks that compute and act
// (./mocks.ts) against the local testbed (./machines.ts) behind the planned firewall
// (./firewall.ts), plus the operator's side of the article's steps (./operator.ts).
import * as pulumi from "@pulumi/pulumi";
import { parseClusterSpec } from "../../components/config";
import { planMachines } from "../../components/plan";
import { TestbedExecutor } from "./executor";
import { Firewall } from "./firewall";
import { newTestbed, type Testbed } from "./machines";
import { RehearsalMocks } from "./mocks";
import { AddressBook, localStack, operatorAddress, outsiderAddress, regionLayout } from "./stack";

export interface ProgramOutputs {
  balancerApiUrl: string;
  balancerApiUser: string;
  balancerApiPassword: string;
  balancerApiCaPem: string;
  dockerHost: string;
  dockerClientTls: { caPem: string; certPem: string; keyPem: string };
  entryPoints: Record<string, string>;
  hostIps: Record<string, string[]>;
}

export interface RehearsalOptions {
  /** Imports the program afresh (index.ts); under vitest: vi.resetModules() then import. */
  loadProgram: () => Promise<Record<string, any>>;
  /** Progress lines. Defaults to none. */
  log?: (line: string) => void;
  /** Testbed subnet a.b.c, name prefix and work dir. Default: a free 10.x.y, random, a temp dir. */
  net?: string;
  prefix?: string;
  dir?: string;
  /** Extra host slots per region (namespaces without a machine yet, for a host added later). Default 1. */
  spareHosts?: number;
}

const SSH_PRIVATE_KEY =
  "-----BEGIN OPENSSH PRIVATE KEY-----\nrehearsal: no SSH\n-----END OPENSSH PRIVATE KEY-----";

const resolvedValue = <T>(o: pulumi.Input<T>): Promise<T> =>
  new Promise((ok) => pulumi.output(o).apply((v) => ok(v as T)));

export class Rehearsal {
  readonly firewall = new Firewall();
  readonly mocks: RehearsalMocks;
  readonly executor: TestbedExecutor;
  readonly addresses: AddressBook;
  /** The stack config of the last program run (geoswarm keys). */
  config: Record<string, any>;
  outputs?: ProgramOutputs;
  /** ms since start(), per milestone. */
  readonly timings: Record<string, number> = {};
  private readonly t0 = Date.now();

  private constructor(
    readonly tb: Testbed,
    private readonly opts: RehearsalOptions,
  ) {
    this.config = localStack(tb.net);
    this.addresses = new AddressBook(tb.net);
    const log = opts.log ?? (() => {});
    this.executor = new TestbedExecutor(tb, this.firewall, (id) => this.mocks.byIdOf(id), log);
    this.mocks = new RehearsalMocks(this.addresses, this.executor, log);
  }

  get net(): string {
    return this.tb.net;
  }

  mark(what: string): number {
    this.timings[what] = Date.now() - this.t0;
    return this.timings[what];
  }

  /** The testbed's namespaces: every planned machine, spare host slots, a client per region, an outsider. */
  static async start(opts: RehearsalOptions): Promise<Rehearsal> {
    const tb = await newTestbed(opts);
    const r = new Rehearsal(tb, opts);
    try {
      const spec = parseClusterSpec(r.config);
      // Addresses in the program's machine order, so that each machine's EIP is stable.
      for (const m of planMachines(spec)) r.addresses.address(m.name, m.awsRegion);
      const hosts = r.addresses.machines();
      for (const region of regionLayout(tb.net)) {
        for (let s = 0; s < (opts.spareHosts ?? 1); s++) {
          hosts.push([`spare-${region.name}-${s + 1}`, r.addresses.upcoming(region.awsRegion, s)]);
        }
        hosts.push([`client-${region.name}`, region.client]);
      }
      hosts.push(["outsider", outsiderAddress(tb.net)]);
      await tb.up(hosts);
      r.mark("namespaces");
    } catch (err) {
      await tb.down().catch(() => {});
      throw err;
    }
    return r;
  }

  /** Runs the program under the acting mocks with `mutate`(config); resolves once all is done. */
  async deploy(mutate: (config: Record<string, any>) => void = () => {}): Promise<ProgramOutputs> {
    const config = structuredClone(this.config);
    mutate(config);
    this.config = config;
    this.mocks.beginRun();
    await pulumi.runtime.setMocks(this.mocks, "geoswarm", "local", false);
    const all: Record<string, string> = { "geoswarm:sshPrivateKey": SSH_PRIVATE_KEY };
    for (const [k, v] of Object.entries(config))
      all[`geoswarm:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
    pulumi.runtime.setAllConfig(all, ["geoswarm:sshPrivateKey"]);
    const failed = this.mocks.failed();
    failed.catch(() => {});
    const program = await Promise.race([this.opts.loadProgram(), failed]);
    const keys = [
      "balancerApiUrl",
      "balancerApiUser",
      "balancerApiPassword",
      "balancerApiCaPem",
      "dockerHost",
      "dockerClientTls",
      "entryPoints",
      "hostIps",
    ] as const;
    const values = await Promise.race([
      Promise.all(keys.map((k) => resolvedValue(program[k]))),
      failed,
    ]);
    await Promise.race([this.mocks.settled(), failed]);
    this.outputs = Object.fromEntries(
      keys.map((k, i) => [k, values[i]]),
    ) as unknown as ProgramOutputs;
    this.mark("deployed");
    return this.outputs;
  }

  /** Who each firewall source address is: machines, clients, the operator. */
  sourceNames(): Map<string, string> {
    const names = new Map<string, string>([[`${operatorAddress(this.net)}/32`, "operator"]]);
    for (const m of this.tb.machines) names.set(`${m.ip}/32`, m.name);
    for (const r of regionLayout(this.net)) names.set(r.cidr, `${r.name} clients`);
    return names;
  }

  async down(): Promise<void> {
    // Services first, so that swarm does not reschedule tasks while the testbed goes down.
    const manager = this.tb.machines.find((m) => m.name === "manager");
    if (manager?.holder)
      await this.tb
        .exec(
          manager,
          'ids=$(docker service ls -q 2>/dev/null); [ -z "$ids" ] || docker service rm $ids',
          { timeoutMs: 20_000 },
        )
        .catch(() => {});
    await this.tb.down();
  }
}
