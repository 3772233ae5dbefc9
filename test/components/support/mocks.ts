// Substitutes for the Pulumi engine and the AWS/TLS/random/command providers: a mock table that
// records every registered resource (with secret markers intact) and invents provider outputs.
import * as pulumi from "@pulumi/pulumi";

const SIG = "4dabf18193072939515e22adb298388d";
const SECRET = "1b47061264138c4ac30d75fd1eb44270";

export interface Recorded {
  type: string;
  name: string;
  /** URN the mock monitor gave the resource (parent chain included). */
  urn?: string;
  /** Resource options as the engine received them (see recordOptions). */
  options?: RecordedOptions;
  /** Inputs as the engine received them; secrets still wrapped. */
  raw: Record<string, any>;
  /** Inputs with secret wrappers removed. */
  inputs: Record<string, any>;
  provider?: string;
}

export const isSecretValue = (v: unknown): boolean =>
  typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG] === SECRET;

export function unwrap(v: any): any {
  if (isSecretValue(v)) return unwrap(v.value);
  if (Array.isArray(v)) return v.map(unwrap);
  if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
  }
  return v;
}

/** The resource options of a RegisterResourceRequest that matter to the engine's plan. */
export interface RecordedOptions {
  parent: string;
  /** URNs of every resource this one depends on (dependsOn and input dependencies). */
  dependencies: string[];
  /** URNs per input property. */
  propertyDependencies: Record<string, string[]>;
  deletedWith: string;
  protect: boolean;
  retainOnDelete: boolean;
  deleteBeforeReplace: boolean;
  ignoreChanges: string[];
  replaceOnChanges: string[];
  additionalSecretOutputs: string[];
  /** customTimeouts as the engine gets them ("" where unset). */
  customTimeouts: { create: string; update: string; delete: string };
}

// The mock monitor hands mocks.newResource only type, name and inputs. The options (dependsOn,
// parent, deletedWith, protect, ...) are read from the request itself: newResource runs
// synchronously inside registerResource, so the request being handled is the pending one.
let pendingRequest: any;
let pendingUrn: string | undefined;
let monitorPatched = false;
function recordOptions(): void {
  if (monitorPatched) return;
  monitorPatched = true;
  // biome-ignore lint/suspicious/noExplicitAny: the SDK's internal mock monitor is untyped
  const { MockMonitor } = require("@pulumi/pulumi/runtime/mocks") as any;
  const original = MockMonitor.prototype.registerResource;
  MockMonitor.prototype.registerResource = function (req: any, callback: any) {
    pendingRequest = req;
    pendingUrn = this.newUrn(req.getParent(), req.getType(), req.getName());
    try {
      return original.call(this, req, callback);
    } finally {
      pendingRequest = undefined;
      pendingUrn = undefined;
    }
  };
  // A program run that a test abandoned (runProgram again, after a failure) may still register
  // its components' outputs; they reach the next run's monitor, which never saw those URNs.
  const registerOutputs = MockMonitor.prototype.registerResourceOutputs;
  MockMonitor.prototype.registerResourceOutputs = function (req: any, callback: any) {
    if (!this.resources.has(req.getUrn())) return callback(null, {});
    return registerOutputs.call(this, req, callback);
  };
}

function optionsOf(req: any): RecordedOptions | undefined {
  if (!req) return undefined;
  const propertyDependencies: Record<string, string[]> = {};
  req.getPropertydependenciesMap().forEach((deps: any, key: string) => {
    propertyDependencies[key] = deps.getUrnsList();
  });
  return {
    parent: req.getParent(),
    dependencies: req.getDependenciesList(),
    propertyDependencies,
    deletedWith: req.getDeletedwith(),
    protect: Boolean(req.getProtect()),
    retainOnDelete: Boolean(req.getRetainondelete()),
    deleteBeforeReplace: Boolean(req.getDeletebeforereplace()),
    ignoreChanges: req.getIgnorechangesList(),
    replaceOnChanges: req.getReplaceonchangesList(),
    additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
    customTimeouts: {
      create: req.getCustomtimeouts()?.getCreate() ?? "",
      update: req.getCustomtimeouts()?.getUpdate() ?? "",
      delete: req.getCustomtimeouts()?.getDelete() ?? "",
    },
  };
}

/** Deterministic fake EIPs: one per allocation name. */
const ips = new Map<string, string>();
export function fakeIp(name: string): string {
  let ip = ips.get(name);
  if (!ip) {
    ip = `203.0.113.${ips.size + 10}`;
    ips.set(name, ip);
  }
  return ip;
}

/** Set above 0 to give every issued certificate other PEM text, as a renewal does. */
export const certGeneration = { value: 0 };

export const GOSSIP_KEY = Buffer.alloc(32, 7).toString("base64");
export const SWARM_TOKEN = "SWMTKN-1-fake-worker-token";

function outputsFor(
  type: string,
  name: string,
  inputs: Record<string, any>,
): Record<string, unknown> {
  switch (type) {
    case "aws:ec2/eip:Eip":
      return { publicIp: fakeIp(name), allocationId: `eipalloc-${name}` };
    case "aws:ec2/instance:Instance":
      return { privateIp: "10.0.0.10", publicIp: "198.18.0.1" };
    case "aws:ec2/keyPair:KeyPair":
      return { keyName: `${name}-key` };
    case "tls:index/privateKey:PrivateKey":
      return { privateKeyPem: `-----BEGIN PRIVATE KEY-----\n${name}\n-----END PRIVATE KEY-----\n` };
    case "tls:index/certRequest:CertRequest":
      return { certRequestPem: `CSR ${name}` };
    case "tls:index/selfSignedCert:SelfSignedCert":
    case "tls:index/locallySignedCert:LocallySignedCert":
      return {
        certPem: `-----BEGIN CERTIFICATE-----\n${name}${certGeneration.value ? ` renewed ${certGeneration.value}` : ""}\n-----END CERTIFICATE-----\n`,
      };
    case "random:index/randomBytes:RandomBytes":
      return { base64: GOSSIP_KEY, hex: "07".repeat(32) };
    case "random:index/randomPassword:RandomPassword":
      return { result: `pw-${name}-0123456789abcdef` };
    case "command:remote:Command":
      return { stdout: inputs.create?.includes("join-token") ? SWARM_TOKEN : "", stderr: "" };
    default:
      return {};
  }
}

/** Instance types the getInstanceType mock reports as arm64 (Graviton); all others x86_64. */
const ARM64_TYPES = new Set(["t4g.small", "t4g.medium", "m7g.large", "c7g.large"]);

/** Every invoke the mocks answered (token and inputs), in order; tests may empty it. */
export const invokes: { token: string; inputs: Record<string, any> }[] = [];

/**
 * Per-test answers for an invoke token, consulted before the built-in ones; a thrown error fails
 * the invoke as the engine would (set `details`, the engine's message field). Delete when done.
 */
export const invokeOverrides = new Map<string, (inputs: Record<string, any>) => unknown>();

export async function installMocks(): Promise<Recorded[]> {
  const recorded: Recorded[] = [];
  recordOptions();
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        const inputs = unwrap(args.inputs);
        const options = optionsOf(pendingRequest);
        recorded.push({
          type: args.type,
          name: args.name,
          urn: pendingUrn,
          options,
          raw: args.inputs,
          inputs,
          provider: args.provider,
        });
        return {
          id: `${args.name}-id`,
          state: { ...args.inputs, ...outputsFor(args.type, args.name, inputs) },
        };
      },
      call: (args) => {
        invokes.push({ token: args.token, inputs: args.inputs });
        const override = invokeOverrides.get(args.token);
        if (override) return override(args.inputs);
        if (args.token === "aws:ec2/getAmi:getAmi") return { id: `ami-${args.inputs.region}` };
        if (args.token === "aws:index/getAvailabilityZones:getAvailabilityZones") {
          return { names: [`${args.inputs.region}a`, `${args.inputs.region}b`] };
        }
        if (args.token === "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings") {
          // Every requested type in both zones the getAvailabilityZones mock lists.
          const types: string[] = args.inputs.filters?.[0]?.values ?? [];
          const zones = [`${args.inputs.region}a`, `${args.inputs.region}b`];
          const pairs = types.flatMap((t) => zones.map((z) => [t, z]));
          return {
            id: args.inputs.region,
            instanceTypes: pairs.map(([t]) => t),
            locations: pairs.map(([, z]) => z),
            locationTypes: pairs.map(() => "availability-zone"),
          };
        }
        if (args.token === "aws:ec2/getInstanceType:getInstanceType") {
          const t = args.inputs.instanceType;
          return {
            id: t,
            instanceType: t,
            supportedArchitectures: ARM64_TYPES.has(t) ? ["arm64"] : ["i386", "x86_64"],
          };
        }
        if (args.token === "aws:servicequotas/getServiceQuota:getServiceQuota") {
          // An account whose Elastic IP quota was raised above every stack the tests build.
          return { ...args.inputs, id: args.inputs.quotaCode, value: 20, defaultValue: 5 };
        }
        return args.inputs;
      },
    },
    "geoswarm",
    "test",
  );
  return recorded;
}

/** Resolves once no new resource has been registered for `quietMs`. */
export async function settled(recorded: Recorded[], quietMs = 150): Promise<void> {
  let last = -1;
  while (last !== recorded.length) {
    last = recorded.length;
    await new Promise((r) => setTimeout(r, quietMs));
  }
}

export const resolved = <T>(o: pulumi.Output<T>): Promise<T> => new Promise((ok) => o.apply(ok));
export const secretOf = (o: pulumi.Output<unknown>): Promise<boolean> => pulumi.isSecret(o);
