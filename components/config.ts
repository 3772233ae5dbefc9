// Stack configuration (`Pulumi.<stack>.yaml`, namespace `geoswarm`) → a validated, typed ClusterSpec.
// Every error names the full key, e.g. `geoswarm:regions[1].hosts[0].instanceType: ...`.
import { z } from "zod";
import { MAX_WORKERS, nodeSupportsWorkers } from "../lb/src/config/workers";
import { LABELS_PORT_RANGE, labelRangeProblems, parsePortRange } from "./config-labels";
import { documentationRange, publicKeyProblem } from "./config-traps";
import { DEFAULT_EIP_QUOTA, type InstanceTypeUse, staticArchitectureProblems } from "./placement";
import {
  BALANCER_NAME,
  consulServerName,
  MANAGER_NAME,
  MAX_RULES_PER_GROUP,
  planFirewall,
  rulesPerGroup,
} from "./plan";
import { GO_DURATION, isIpv4Cidr, overlappingCidrs } from "./render/net";
import { DEFAULT_CONSUL_VERSION, DEFAULT_NODE_VERSION, DEFAULT_SWARM_IMAGE } from "./types";

export const CONFIG_NAMESPACE = "geoswarm";

/** Top-level keys read from the stack config, in the order they are documented. */
export const CONFIG_KEYS = [
  "coreRegion",
  "regions",
  "consul",
  "swarm",
  "balancer",
  "ssh",
  "entryPoints",
  "elasticIps",
] as const;

/** Keys whose value is a plain string (Pulumi stores strings unquoted: getObject would fail). */
const STRING_KEYS: readonly string[] = ["coreRegion", "elasticIps"];

const NAME = /^[a-z][a-z0-9-]{0,30}[a-z0-9]$/;
const name = z.string().regex(NAME, "must be lowercase letters, digits and '-', 2–32 characters");
const awsRegion = z
  .string()
  .regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, "must be an AWS region such as eu-west-1");
const instanceType = z
  .string()
  .regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, "must be an EC2 instance type such as t3.medium");
const cidr = z.string().refine(isIpv4Cidr, "must be an IPv4 CIDR such as 10.10.0.0/16");

// A CIDR that admits nobody costs a 20-minute SSH timeout at the first remote command.
const clientCidr = (what: string) =>
  cidr.superRefine((value, ctx) => {
    const range = documentationRange(value);
    if (range) {
      ctx.addIssue({
        code: "custom",
        message: `${value} is in the documentation range ${range}, a placeholder no client has; put ${what}`,
      });
    }
  });

const duration = z.string().regex(GO_DURATION, 'must be a Go duration such as "2s" or "1m30s"');
const port = z.number().int().min(1).max(65535);
// Docker label keys: reverse-DNS style; `region` is set by geoswarm itself.
const labelKey = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/, "must be a lowercase Docker label key");

const host = z.strictObject({
  name,
  instanceType: instanceType.default("t3.medium"),
  labels: z.record(labelKey, z.string().min(1)).default({}),
});

const region = z.strictObject({
  name,
  awsRegion,
  cidr,
  /**
   * Elastic IP quota assumed only when Service Quotas (ec2 L-0263D0A3) cannot be read at deploy
   * time; the quota read from AWS wins. Default: AWS's default quota, 5.
   */
  eipQuota: z.number().int().min(1).default(DEFAULT_EIP_QUOTA),
  hosts: z.array(host).min(1, "needs at least one Docker host"),
});

const consul = z.strictObject({
  servers: z
    .number()
    .int()
    .refine((n) => n >= 1 && n <= 7 && n % 2 === 1, "must be an odd number from 1 to 7")
    .default(3),
  instanceType: instanceType.default("t3.small"),
  datacenter: name.default("production"),
  /** Consul Debian package version from apt.releases.hashicorp.com. */
  version: z
    .string()
    .regex(/^\d+\.\d+\.\d+-\d+$/, 'must be a Debian version such as "1.20.2-1"')
    .default(DEFAULT_CONSUL_VERSION),
});

const swarm = z.strictObject({
  mode: z.enum(["standalone", "swarm"]).default("standalone"),
  strategy: z.enum(["binpack", "spread", "random"]).default("binpack"),
  managerInstanceType: instanceType.default("t3.small"),
  /** Image of the standalone Swarm agent/manager. */
  image: z.string().min(1).default(DEFAULT_SWARM_IMAGE),
});

/**
 * Entry points from container labels (geoswarm-lb's `[providers.docker]`): off unless `enabled`.
 * Every field has a default, so `labels: { enabled: true }` is a whole configuration.
 */
const labels = z.strictObject({
  /** Turns the provider on. Default: false. */
  enabled: z.boolean().default(false),
  /**
   * Balancer ports a `geoswarm.lb.port` label may take, inclusive, opened to allowedCidrs.
   * Default: "20000-20999".
   */
  portRange: z
    .string()
    .regex(LABELS_PORT_RANGE, 'must be "low-high", inclusive, such as "20000-20999"')
    .refine((r) => {
      // zod runs this after a failed regex too: that one reports the shape.
      if (!LABELS_PORT_RANGE.test(r)) return true;
      const [lo, hi] = parsePortRange(r);
      return lo >= 1 && hi <= 65535 && lo <= hi;
    }, "must have 1 <= low <= high <= 65535")
    .default("20000-20999"),
  /** Who may connect to those ports (security group). Default: ["0.0.0.0/0"], like an entry point. */
  allowedCidrs: z
    .array(clientCidr("the clients' public network, or 0.0.0.0/0 for everyone"))
    .min(1, "needs at least one CIDR (0.0.0.0/0 for everyone)")
    .default(["0.0.0.0/0"]),
  /** How long a port whose last container went away stays open for a replacement. Default: "30s". */
  drainGrace: duration.default("30s"),
  /**
   * Also open the range to allowedCidrs for UDP, and the hosts' published UDP ports to the
   * balancer (`geoswarm.lb.protocol=udp` labels). Default: false, TCP only.
   */
  udp: z.boolean().default(false),
});

const balancer = z.strictObject({
  instanceType: instanceType.default("t3.small"),
  apiUser: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, "must be 1–64 of A-Z a-z 0-9 . _ -")
    .default("geoswarm"),
  apiPort: port.default(8888),
  /**
   * Who else may reach the REST API (TLS, basic auth) besides ssh.allowedCidr: e.g. a CI
   * runner's network when pulumi runs outside allowedCidr through ssh.bastion. Default: none.
   */
  apiAllowedCidrs: z.array(clientCidr("the network of the machine that runs pulumi")).default([]),
  nodeVersion: z
    .string()
    .regex(/^\d+\.\d+\.\d+$/, 'must be a Node.js version such as "22.12.0"')
    .default(DEFAULT_NODE_VERSION),
  /** geoswarm-lb data-plane threads (`workers`); above 1 needs nodeVersion >= 22.12. */
  workers: z.number().int().min(1).max(MAX_WORKERS).default(1),
  /** sha256 of node-v<version>-linux-x64.tar.xz; when absent the tarball is checked against nodejs.org's SHASUMS256.txt. */
  nodeSha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, "must be 64 hex digits")
    .optional(),
  /** Entry points from container labels; see `labels` above. Default: off. */
  labels: labels.default(labels.parse({})),
  /**
   * The balancer's data path: "auto" (the native addon when `npm run build:lb` built it, else JS
   * with a warning), "required" (fail at preview without it), "off" (JS). Default: "auto".
   */
  nativeDataPath: z.enum(["auto", "required", "off"]).default("auto"),
});

// A key nobody holds the private half of (a placeholder) costs a 20-minute SSH timeout.
const publicKeyLine = z
  .string()
  .regex(
    /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+( .*)?$/,
    "must be an OpenSSH public key line",
  )
  .superRefine((line, ctx) => {
    const problem = publicKeyProblem(line);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

const ssh = z.strictObject({
  publicKey: publicKeyLine,
  /** Operator network: SSH, the LB API, the Consul UI and DOCKER_HOST are reachable only from here. */
  allowedCidr: clientCidr(
    "the public network pulumi runs from, e.g. your address as a.b.c.d/32 (curl https://checkip.amazonaws.com)",
  ),
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]*$/, "must be a Unix user name")
    .default("ubuntu"),
  /** Keys authorized on every machine besides publicKey: one being rotated in or out (docs/deploy.md). */
  extraPublicKeys: z.array(publicKeyLine).default([]),
  /**
   * SSH bastion (jump host) for every remote command, for a machine running `pulumi up` outside
   * allowedCidr (a GitHub-hosted runner): the bastion's address must be inside allowedCidr.
   * It authenticates with sshPrivateKey. Default: none, connect directly.
   */
  bastion: z
    .strictObject({
      host: z.string().regex(/^[A-Za-z0-9.-]+$/, "must be a host name or IPv4 address"),
      user: z
        .string()
        .regex(/^[a-z_][a-z0-9_-]*$/, "must be a Unix user name")
        .optional(),
      port: port.default(22),
    })
    .optional(),
});

const BALANCE = [
  "weight",
  "roundrobin",
  "leastconn",
  "leastbandwidth",
  "iphash",
  "iphash1",
] as const;
const healthcheck = z.strictObject({
  kind: z.enum(["none", "ping"]).default("ping"),
  interval: duration.default("2s"),
  timeout: duration.default("1s"),
  fails: z.number().int().min(1).default(1),
  passes: z.number().int().min(1).default(1),
});

const entryPoint = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1–64 of A-Z a-z 0-9 _ -"),
  region: name,
  serviceLabel: z.string().min(1),
  privatePort: port,
  lbPort: port,
  balance: z.enum(BALANCE).default("weight"),
  healthcheck: healthcheck.default({
    kind: "ping",
    interval: "2s",
    timeout: "1s",
    fails: 1,
    passes: 1,
  }),
  allowedCidr: clientCidr("the clients' public network, or 0.0.0.0/0 for everyone").default(
    "0.0.0.0/0",
  ),
});

const stackSchema = z.strictObject({
  coreRegion: name,
  regions: z.array(region).min(1, "needs at least one region"),
  consul: consul.default(consul.parse({})),
  swarm: swarm.default(swarm.parse({})),
  balancer: balancer.default(balancer.parse({})),
  ssh,
  entryPoints: z.array(entryPoint).default([]),
  /**
   * What `pulumi destroy` (or removing a machine) does to Elastic IPs, the cluster's identity
   * (clients, DNS records and firewalls elsewhere name them): "protect" refuses to delete them
   * until the key is changed; "retain" leaves them allocated in the account (still billed);
   * "release" gives them back to AWS.
   */
  elasticIps: z.enum(["protect", "retain", "release"]).default("protect"),
});

/** The validated stack config (`geoswarm:*` keys) with every default filled in; see {@link parseClusterSpec}. */
export type ClusterSpec = z.infer<typeof stackSchema>;
/** One entry of `geoswarm:regions`. */
export type RegionSpec = ClusterSpec["regions"][number];
/** One entry of `geoswarm:entryPoints`. */
export type EntryPointSpec = ClusterSpec["entryPoints"][number];
/**
 * `geoswarm:balancer.labels`: entry points from container labels. Defaults: `enabled` false,
 * `portRange` "20000-20999", `allowedCidrs` ["0.0.0.0/0"], `drainGrace` "30s", `udp` false (TCP
 * only: true also opens `portRange` for UDP, and the published UDP ports of the hosts, and of
 * the swarm-mode manager, to the balancer; without it a `geoswarm.lb.protocol=udp` label still
 * gets a listener that no client can reach).
 */
export type LabelsSpec = ClusterSpec["balancer"]["labels"];

/** Bad stack configuration: each problem names its key as `geoswarm:<path>`. */
export class StackConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid stack configuration:\n  ${problems.join("\n  ")}`);
    this.name = "StackConfigError";
  }
}

function keyPath(path: readonly PropertyKey[]): string {
  let out = `${CONFIG_NAMESPACE}:${String(path[0] ?? "")}`;
  for (const p of path.slice(1)) out += typeof p === "number" ? `[${p}]` : `.${String(p)}`;
  return out;
}

/** Ports the balancer host uses itself; entry points may not take them. */
export const RESERVED_BALANCER_PORTS = [22, 8300, 8301, 8302, 8500, 18500] as const;

function crossChecks(spec: ClusterSpec): string[] {
  const problems: string[] = [];
  const { workers, nodeVersion } = spec.balancer;
  if (workers > 1 && !nodeSupportsWorkers(nodeVersion)) {
    problems.push(
      `${keyPath(["balancer", "workers"])}: ${workers} needs balancer.nodeVersion >= 22.12 (SO_REUSEPORT listeners), got "${nodeVersion}"; raise nodeVersion or set workers to 1`,
    );
  }
  const regionNames = spec.regions.map((r) => r.name);
  if (!regionNames.includes(spec.coreRegion)) {
    problems.push(
      `${keyPath(["coreRegion"])}: "${spec.coreRegion}" is not one of regions[].name (${regionNames.join(", ")})`,
    );
  }
  const seen = new Map<string, string>();
  const dup = (kind: string, value: string, where: string) => {
    const key = `${kind}:${value}`;
    const first = seen.get(key);
    if (first) problems.push(`${where}: ${kind} "${value}" is already used by ${first}`);
    else seen.set(key, where);
  };
  const reservedNames = [
    BALANCER_NAME,
    MANAGER_NAME,
    ...Array.from({ length: spec.consul.servers }, (_, i) => consulServerName(i)),
  ];
  for (const n of reservedNames) seen.set(`host name:${n}`, "geoswarm itself");
  spec.regions.forEach((r, i) => {
    dup("region name", r.name, keyPath(["regions", i, "name"]));
    dup("AWS region", r.awsRegion, keyPath(["regions", i, "awsRegion"]));
    r.hosts.forEach((h, j) => {
      dup("host name", h.name, keyPath(["regions", i, "hosts", j, "name"]));
      if ("region" in h.labels) {
        problems.push(
          `${keyPath(["regions", i, "hosts", j, "labels", "region"])}: is set by geoswarm to the region name; remove it`,
        );
      }
    });
  });
  for (const [a, b] of overlappingCidrs(spec.regions.map((r) => r.cidr))) {
    problems.push(
      `${keyPath(["regions", b, "cidr"])}: ${spec.regions[b].cidr} overlaps regions[${a}].cidr ${spec.regions[a].cidr}`,
    );
  }
  // The Elastic IP quota is checked at deploy time against the one AWS reports (RegionNetwork).
  for (const uses of Object.values(instanceTypeUses(spec))) {
    problems.push(...staticArchitectureProblems(uses));
  }
  const reserved = new Set<number>([...RESERVED_BALANCER_PORTS, spec.balancer.apiPort]);
  // A CIDR listed twice would render two identical security-group rules; AWS refuses the second.
  spec.balancer.apiAllowedCidrs.forEach((c, i) => {
    dup("API client CIDR", c, keyPath(["balancer", "apiAllowedCidrs", i]));
  });
  spec.balancer.labels.allowedCidrs.forEach((c, i) => {
    dup("labels client CIDR", c, keyPath(["balancer", "labels", "allowedCidrs", i]));
  });
  spec.entryPoints.forEach((e, i) => {
    dup("entry point name", e.name, keyPath(["entryPoints", i, "name"]));
    dup("LB port", String(e.lbPort), keyPath(["entryPoints", i, "lbPort"]));
    if (!regionNames.includes(e.region)) {
      problems.push(
        `${keyPath(["entryPoints", i, "region"])}: "${e.region}" is not one of regions[].name`,
      );
    }
    if (reserved.has(e.lbPort)) {
      problems.push(
        `${keyPath(["entryPoints", i, "lbPort"])}: ${e.lbPort} is used by the balancer host itself`,
      );
    }
  });
  problems.push(...labelRangeProblems(spec, keyPath, RESERVED_BALANCER_PORTS));
  if (problems.length === 0) {
    for (const [role, count] of Object.entries(rulesPerGroup(planFirewall(spec)))) {
      if (count > MAX_RULES_PER_GROUP) {
        problems.push(
          `${keyPath(["regions"])}: the ${role} security group would need ${count} inbound rules (one per cluster EIP and port), over AWS's default limit of ${MAX_RULES_PER_GROUP}; use fewer hosts or raise the quota`,
        );
      }
    }
  }
  return problems;
}

/**
 * The instance types each region (by name) runs, each with the key that chose it: the core
 * region's Consul servers, balancer and manager, and every region's hosts.
 */
export function instanceTypeUses(spec: ClusterSpec): Record<string, InstanceTypeUse[]> {
  const use = (instanceType: string, path: (string | number)[]) => ({
    instanceType,
    usedBy: keyPath(path),
  });
  return Object.fromEntries(
    spec.regions.map((r, i) => [
      r.name,
      [
        ...(r.name === spec.coreRegion
          ? [
              use(spec.consul.instanceType, ["consul", "instanceType"]),
              use(spec.balancer.instanceType, ["balancer", "instanceType"]),
              use(spec.swarm.managerInstanceType, ["swarm", "managerInstanceType"]),
            ]
          : []),
        ...r.hosts.map((h, j) => use(h.instanceType, ["regions", i, "hosts", j, "instanceType"])),
      ],
    ]),
  );
}

/**
 * What RegionNetwork checks per region (by name) before any instance exists: the instance
 * types (architecture, offered in the subnet's zone) and the Elastic IPs against the quota
 * read from Service Quotas, with `eipQuota` as the fallback.
 */
export function regionChecks(spec: ClusterSpec): Record<
  string,
  {
    instanceTypes: InstanceTypeUse[];
    eipQuotaCheck: { needed: number; fallbackQuota: number; fallbackSource: string };
  }
> {
  const uses = instanceTypeUses(spec);
  return Object.fromEntries(
    spec.regions.map((r, i) => [
      r.name,
      {
        instanceTypes: uses[r.name],
        eipQuotaCheck: {
          // One address per machine: the region's hosts, and in the core region the Consul
          // servers, the balancer and the manager (planMachines).
          needed: r.hosts.length + (r.name === spec.coreRegion ? spec.consul.servers + 2 : 0),
          fallbackQuota: r.eipQuota,
          fallbackSource: keyPath(["regions", i, "eipQuota"]),
        },
      },
    ]),
  );
}

/**
 * Validates raw stack configuration values (key → value, without the `geoswarm:` prefix) and
 * returns the spec with every default filled in. Throws StackConfigError listing every problem.
 */
export function parseClusterSpec(raw: Record<string, unknown>): ClusterSpec {
  const unknown = Object.keys(raw).filter((k) => !(CONFIG_KEYS as readonly string[]).includes(k));
  const result = stackSchema.safeParse(
    Object.fromEntries(Object.entries(raw).filter(([k]) => !unknown.includes(k))),
  );
  const problems = unknown.map(
    (k) => `${keyPath([k])}: unknown key (expected one of ${CONFIG_KEYS.join(", ")})`,
  );
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path =
        issue.code === "unrecognized_keys" ? [...issue.path, issue.keys.join(", ")] : issue.path;
      const message =
        issue.code === "unrecognized_keys"
          ? "unknown key"
          : issue.code === "invalid_key"
            ? (issue.issues[0]?.message ?? issue.message)
            : issue.message.endsWith("received undefined")
              ? "is required"
              : issue.message;
      problems.push(`${path.length ? keyPath(path) : CONFIG_NAMESPACE}: ${message}`);
    }
    throw new StackConfigError(problems);
  }
  problems.push(...crossChecks(result.data));
  if (problems.length) throw new StackConfigError(problems);
  return result.data;
}

/** Reads the stack config through a `pulumi.Config("geoswarm")`-like getter. */
export function readClusterSpec(config: {
  get(key: string): string | undefined;
  getObject<T>(key: string): T | undefined;
}): ClusterSpec {
  const raw: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) {
    let value: unknown;
    try {
      value = STRING_KEYS.includes(key) ? config.get(key) : config.getObject<unknown>(key);
    } catch {
      throw new StackConfigError([`${keyPath([key])}: is not valid YAML/JSON structured config`]);
    }
    if (value !== undefined) raw[key] = value;
  }
  return parseClusterSpec(raw);
}
