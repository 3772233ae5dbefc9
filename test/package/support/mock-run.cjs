// Runs a Pulumi TypeScript program under pulumi.runtime.setMocks, from inside a consumer project:
// the test copies this file into the consumer, so `@pulumi/pulumi` and `typescript` resolve from
// the consumer's own node_modules (the installed tarball's peers), never the repository's.
// It plays the engine's part for `pulumi preview`/`up` with every provider mocked:
// - config: GEOSWARM_MOCK_CONFIG (JSON, "project:key" -> string) and GEOSWARM_MOCK_SECRET_KEYS,
//   as the engine passes PULUMI_CONFIG;
// - stack references: a `pulumi:pulumi:StackReference` is read through the mock's newResource like
//   any resource, so its `outputs` and `secretOutputNames` are what GEOSWARM_MOCK_STACKS (JSON,
//   stack name -> { outputs, secretOutputNames }) says the referenced stack holds. No engine can
//   resolve a reference here; this is the state the engine would return for one;
// - the TypeScript program is transpiled on require, as the Node language host does for
//   `runtime.options.typescript` (type errors are the separate `tsc --noEmit` step's job).
// It writes { resources, exports } as JSON to GEOSWARM_MOCK_OUT: every registered resource with
// its URN, parent, inputs (secret markers kept) and additionalSecretOutputs, and each stack
// export's value and secretness.
//   node mock-run.cjs <program.ts>
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const ts = require("typescript");

require.extensions[".ts"] = (module, filename) => {
  const { outputText } = ts.transpileModule(fs.readFileSync(filename, "utf8"), {
    fileName: filename,
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
    },
  });
  module._compile(outputText, filename);
};

const pulumi = require("@pulumi/pulumi");
const { MockMonitor } = require("@pulumi/pulumi/runtime/mocks");

const env = (name, fallback) => JSON.parse(process.env[name] ?? JSON.stringify(fallback));
const stacks = env("GEOSWARM_MOCK_STACKS", {});
const project = process.env.GEOSWARM_MOCK_PROJECT;
const stack = process.env.GEOSWARM_MOCK_STACK ?? "dev";

// The mock monitor hands newResource only type, name and inputs; parent and options come from
// the request being registered (newResource runs synchronously inside registerResource).
let pending;
const register = MockMonitor.prototype.registerResource;
MockMonitor.prototype.registerResource = function (req, callback) {
  pending = { req, urn: this.newUrn(req.getParent(), req.getType(), req.getName()) };
  try {
    return register.call(this, req, callback);
  } finally {
    pending = undefined;
  }
};

let ipCount = 0;
const ips = new Map();
const fakeIp = (name) => {
  if (!ips.has(name)) ips.set(name, `198.18.1.${++ipCount}`);
  return ips.get(name);
};
const pem = (label, name) => `-----BEGIN ${label}-----\n${name}\n-----END ${label}-----\n`;

/** Outputs the real providers would add to a resource's inputs. */
function outputsFor(type, name, inputs) {
  switch (type) {
    case "pulumi:pulumi:StackReference": {
      const ref = stacks[inputs.name];
      if (!ref) throw new Error(`mock: no stack "${inputs.name}" in GEOSWARM_MOCK_STACKS`);
      return { outputs: ref.outputs, secretOutputNames: ref.secretOutputNames ?? [] };
    }
    case "aws:ec2/eip:Eip":
      return { publicIp: fakeIp(name), allocationId: `eipalloc-${name}` };
    case "aws:ec2/instance:Instance":
      return { privateIp: "10.0.0.10", publicIp: fakeIp(name) };
    case "aws:ec2/keyPair:KeyPair":
      return { keyName: `${name}-key` };
    case "tls:index/privateKey:PrivateKey":
      return { privateKeyPem: pem("PRIVATE KEY", name), publicKeyOpenssh: `ssh-ed25519 ${name}` };
    case "tls:index/certRequest:CertRequest":
      return { certRequestPem: pem("CERTIFICATE REQUEST", name) };
    case "tls:index/selfSignedCert:SelfSignedCert":
    case "tls:index/locallySignedCert:LocallySignedCert":
      return { certPem: pem("CERTIFICATE", name) };
    case "random:index/randomBytes:RandomBytes":
      return { base64: Buffer.alloc(32, 7).toString("base64"), hex: "07".repeat(32) };
    case "random:index/randomPassword:RandomPassword":
      return { result: `pw-${name}-0123456789abcdef` };
    case "command:remote:Command":
      return { stdout: "", stderr: "" };
    default:
      return {};
  }
}

/** Answers of the AWS data sources the components read. */
function invoke(token, inputs) {
  const zones = [`${inputs.region}a`, `${inputs.region}b`];
  switch (token) {
    case "aws:ec2/getAmi:getAmi":
      return { id: `ami-${inputs.region}`, architecture: "x86_64" };
    case "aws:index/getAvailabilityZones:getAvailabilityZones":
      return { names: zones };
    case "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": {
      const types = inputs.filters?.[0]?.values ?? [];
      const pairs = types.flatMap((t) => zones.map((z) => [t, z]));
      return {
        id: inputs.region,
        instanceTypes: pairs.map(([t]) => t),
        locations: pairs.map(([, z]) => z),
        locationTypes: pairs.map(() => "availability-zone"),
      };
    }
    case "aws:ec2/getInstanceType:getInstanceType":
      return { id: inputs.instanceType, supportedArchitectures: ["x86_64"] };
    case "aws:servicequotas/getServiceQuota:getServiceQuota":
      return { ...inputs, id: inputs.quotaCode, value: 20, defaultValue: 5 };
    default:
      return inputs;
  }
}

const resources = [];

/** Inputs as JSON: assets (whose path or text is a promise) become { asset, path | text }. */
async function plain(v) {
  if (v instanceof pulumi.asset.FileAsset) return { asset: "file", path: await v.path };
  if (v instanceof pulumi.asset.StringAsset) return { asset: "string", text: await v.text };
  if (Array.isArray(v)) return Promise.all(v.map(plain));
  if (v && typeof v === "object") {
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = await plain(x);
    return out;
  }
  return v;
}

// A rejected apply never resolves the export waiting on it: report instead of hanging.
process.on("unhandledRejection", (err) => {
  process.stderr.write(`mock-run: unhandled rejection: ${err?.stack ?? err}\n`);
  process.exit(1);
});
setTimeout(() => {
  process.stderr.write("mock-run: the program did not settle within 120 s\n");
  process.exit(1);
}, 120_000).unref();

async function main() {
  const program = path.resolve(process.argv[2]);
  pulumi.runtime.setAllConfig(
    env("GEOSWARM_MOCK_CONFIG", {}),
    env("GEOSWARM_MOCK_SECRET_KEYS", []),
  );
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        const req = pending?.req;
        resources.push({
          type: args.type,
          name: args.name,
          urn: pending?.urn,
          parent: req?.getParent(),
          dependencies: req?.getDependenciesList() ?? [],
          additionalSecretOutputs: req?.getAdditionalsecretoutputsList() ?? [],
          inputs: args.inputs,
        });
        const plain = JSON.parse(JSON.stringify(args.inputs), (_k, v) =>
          v && v["4dabf18193072939515e22adb298388d"] === "1b47061264138c4ac30d75fd1eb44270"
            ? v.value
            : v,
        );
        return {
          id: args.id || `${args.name}-id`,
          state: { ...args.inputs, ...outputsFor(args.type, args.name, plain) },
        };
      },
      call: (args) => invoke(args.token, args.inputs),
    },
    project,
    stack,
    false,
  );
  const exported = require(program);
  const exports = {};
  for (const [name, value] of Object.entries(exported)) {
    const o = pulumi.output(value);
    exports[name] = {
      value: await new Promise((resolve) => o.apply(resolve)),
      secret: await pulumi.isSecret(o),
    };
  }
  // Components register children from inside applies: wait until nothing new arrives.
  for (let last = -1; last !== resources.length; ) {
    last = resources.length;
    await new Promise((r) => setTimeout(r, 300));
  }
  for (const r of resources) r.inputs = await plain(r.inputs);
  fs.writeFileSync(process.env.GEOSWARM_MOCK_OUT, JSON.stringify({ resources, exports }));
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`mock-run: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
