// Pulumi mocks that compute and act, so that running the program under them is a small `pulumi up`
// against the testbed:
//   - values a provider computes and the machines use are real: TLS keys and certificates,
//     passwords, the gossip key (./tls.ts); Elastic IPs are the machines' namespace addresses;
//   - an Elastic IP association boots its instance on the namespace of that address (the
//     Executor: user data's files and commands), security-group rules become that machine's
//     packet filter, remote commands run their `create` script with their `stdin` on the machine,
//     CopyToRemote writes its source, and LbServer resources call the real provider (check, create).
// The mock monitor registers a resource only once the resources it depends on are registered,
// so the program's dependency graph orders all of this as the engine would.
// A resource seen before with the same inputs (a later run in the same process) keeps its
// outputs and does nothing again: the engine's "no change". Changed inputs act again.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import type { AddressBook } from "./stack";
import * as tls from "./tls";

type Inputs = Record<string, any>;

export interface Recorded {
  type: string;
  name: string;
  id: string;
  inputs: Inputs;
  outputs: Inputs;
  /** False when the resource was unchanged since an earlier run (nothing was done). */
  acted: boolean;
}

/** What acts on the testbed; see machines.ts. */
export interface Executor {
  boot(ip: string, instance: Recorded): Promise<void>;
  command(
    name: string,
    ip: string,
    create: string,
    stdin?: string,
  ): Promise<{ stdout: string; stderr: string }>;
  copy(name: string, ip: string, remotePath: string, content: Buffer): Promise<void>;
  securityGroupRule(name: string, inputs: Inputs): Promise<void>;
  /** Create, or (with `old`, the outputs of an earlier run) diff and update or replace. */
  lbServer(name: string, inputs: Inputs, old?: Inputs): Promise<Inputs>;
}

const SIG = "4dabf18193072939515e22adb298388d";

/** Inputs without secret wrappers; assets become { asset: text or path }. */
function plain(v: any): any {
  if (v && typeof v === "object" && v[SIG] === "1b47061264138c4ac30d75fd1eb44270")
    return plain(v.value);
  if (Array.isArray(v)) return v.map(plain);
  if (v instanceof pulumi.asset.Asset) return v;
  if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

async function assetContent(a: any): Promise<Buffer> {
  if (a instanceof pulumi.asset.StringAsset) return Buffer.from(await (a as any).text);
  if (a instanceof pulumi.asset.FileAsset) return readFileSync(await (a as any).path);
  throw new Error(
    `rehearsal: CopyToRemote source of an unsupported kind (${a?.constructor?.name})`,
  );
}

async function fingerprint(inputs: Inputs): Promise<string> {
  const h = createHash("sha256");
  const walk = async (v: any): Promise<unknown> => {
    if (v instanceof pulumi.asset.Asset)
      return {
        asset: createHash("sha256")
          .update(await assetContent(v))
          .digest("hex"),
      };
    if (Array.isArray(v)) return Promise.all(v.map(walk));
    if (v && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) if (k !== "__provider") out[k] = await walk(v[k]);
      return out;
    }
    return v;
  };
  h.update(JSON.stringify(await walk(inputs)));
  return h.digest("hex");
}

export class RehearsalMocks implements pulumi.runtime.Mocks {
  /** Every resource of the current run, in registration order. */
  recorded: Recorded[] = [];
  private readonly state = new Map<string, { fp: string; outputs: Inputs; id: string }>();
  private readonly byId = new Map<string, Recorded>();
  private readonly pending = new Set<Promise<unknown>>();
  private failures: Error[] = [];
  private onFailure: ((e: Error) => void)[] = [];

  constructor(
    private readonly addresses: AddressBook,
    private readonly executor: Executor,
    private readonly log: (line: string) => void = () => {},
  ) {}

  /** Starts a new program run: the record is emptied, the state (earlier outputs) kept. */
  beginRun(): void {
    this.recorded = [];
    this.failures = [];
  }

  /** Rejects on the first failure of this run (a resource the engine would have failed). */
  failed(): Promise<never> {
    return new Promise((_, reject) => {
      if (this.failures.length) reject(this.failures[0]);
      else this.onFailure.push(reject);
    });
  }

  /** Resolves once nothing is in flight for `quietMs`. */
  async settled(quietMs = 300): Promise<void> {
    for (;;) {
      const before = this.recorded.length;
      await Promise.allSettled([...this.pending]);
      await new Promise((r) => setTimeout(r, quietMs));
      if (this.pending.size === 0 && this.recorded.length === before) return;
    }
  }

  newResource(args: pulumi.runtime.MockResourceArgs): Promise<{ id: string; state: Inputs }> {
    const work = this.register(args).catch((err: Error) => {
      const e = new Error(`${args.type} ${args.name}: ${err.message}`);
      this.failures.push(e);
      for (const f of this.onFailure.splice(0)) f(e);
      throw e;
    });
    this.pending.add(work);
    work.finally(() => this.pending.delete(work)).catch(() => {});
    return work;
  }

  private async register(
    args: pulumi.runtime.MockResourceArgs,
  ): Promise<{ id: string; state: Inputs }> {
    const inputs = plain(args.inputs) as Inputs;
    const key = `${args.type}::${args.name}`;
    const fp = await fingerprint(inputs);
    const before = this.state.get(key);
    let outputs: Inputs;
    let id = before?.id ?? `${args.name}-id`;
    const acted = !before || before.fp !== fp;
    if (!acted && before) {
      outputs = before.outputs;
    } else {
      const r = await this.act(args.type, args.name, inputs, before?.outputs);
      outputs = r.outputs;
      id = r.id ?? id;
    }
    this.state.set(key, { fp, outputs, id });
    const rec: Recorded = { type: args.type, name: args.name, id, inputs, outputs, acted };
    this.recorded.push(rec);
    this.byId.set(id, rec);
    return { id, state: { ...args.inputs, ...outputs } };
  }

  private async act(
    type: string,
    name: string,
    i: Inputs,
    old?: Inputs,
  ): Promise<{ outputs: Inputs; id?: string }> {
    switch (type) {
      case "aws:ec2/eip:Eip": {
        const machine = i.tags?.["geoswarm:machine"] ?? i.tags?.Name ?? name;
        return {
          outputs: {
            publicIp: this.addresses.address(machine, i.region),
            allocationId: `eipalloc-${name}`,
          },
        };
      }
      case "aws:ec2/instance:Instance":
        return { outputs: { privateIp: "10.0.0.10", publicIp: "" } };
      case "aws:ec2/eipAssociation:EipAssociation": {
        const eip = this.recorded.find((r) => r.outputs.allocationId === i.allocationId);
        const vm = this.byId.get(i.instanceId);
        if (!eip || !vm)
          throw new Error(`association of unknown ${i.allocationId} / ${i.instanceId}`);
        await this.executor.boot(eip.outputs.publicIp, vm);
        return { outputs: { publicIp: eip.outputs.publicIp } };
      }
      case "aws:ec2/keyPair:KeyPair":
        return { outputs: { keyName: `${name}-key` } };
      case "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        await this.executor.securityGroupRule(name, i);
        return { outputs: {} };
      case "tls:index/privateKey:PrivateKey":
        // A key never changes with a later run's inputs unless its algorithm does.
        return {
          outputs:
            old && old.algorithm === i.algorithm
              ? old
              : { ...tls.privateKey(i), algorithm: i.algorithm },
        };
      case "tls:index/certRequest:CertRequest":
        return { outputs: tls.certRequest(i) };
      case "tls:index/selfSignedCert:SelfSignedCert":
        return { outputs: tls.selfSignedCert(i) };
      case "tls:index/locallySignedCert:LocallySignedCert":
        return { outputs: tls.locallySignedCert(i) };
      case "random:index/randomPassword:RandomPassword":
        return { outputs: old ?? tls.randomPassword(i) };
      case "random:index/randomBytes:RandomBytes":
        return { outputs: old ?? tls.randomBytesOutputs(i) };
      case "command:remote:Command": {
        this.log(`command ${name} on ${i.connection.host}`);
        const r = await this.executor.command(name, i.connection.host, i.create, i.stdin);
        return { outputs: r };
      }
      case "command:remote:CopyToRemote": {
        await this.executor.copy(
          name,
          i.connection.host,
          i.remotePath,
          await assetContent(i.source),
        );
        return { outputs: {} };
      }
      default:
        if (type.startsWith("pulumi-nodejs:dynamic")) {
          const outs = await this.executor.lbServer(name, i, old);
          return { outputs: outs, id: String(outs.serverName ?? name) };
        }
        return { outputs: {} };
    }
  }

  call(args: pulumi.runtime.MockCallArgs): Record<string, any> {
    const i = args.inputs;
    switch (args.token) {
      case "aws:ec2/getAmi:getAmi":
        return { id: `ami-${i.region}` };
      case "aws:index/getAvailabilityZones:getAvailabilityZones":
        return { names: [`${i.region}a`, `${i.region}b`] };
      case "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": {
        const types: string[] = i.filters?.[0]?.values ?? [];
        const zones = [`${i.region}a`, `${i.region}b`];
        const pairs = types.flatMap((t) => zones.map((z) => [t, z]));
        return {
          id: i.region,
          instanceTypes: pairs.map(([t]) => t),
          locations: pairs.map(([, z]) => z),
          locationTypes: pairs.map(() => "availability-zone"),
        };
      }
      case "aws:ec2/getInstanceType:getInstanceType":
        return {
          id: i.instanceType,
          instanceType: i.instanceType,
          supportedArchitectures: ["x86_64"],
        };
      case "aws:servicequotas/getServiceQuota:getServiceQuota":
        return { ...i, id: i.quotaCode, value: 20, defaultValue: 5 };
      default:
        return i;
    }
  }

  /** Inputs of the first recorded resource of `type` named `name`. */
  find(type: string, name: string): Recorded {
    const r = this.recorded.find((x) => x.type === type && x.name === name);
    if (!r) throw new Error(`rehearsal: the program registered no ${type} named ${name}`);
    return r;
  }

  byIdOf(id: string): Recorded | undefined {
    return this.byId.get(id);
  }
}
