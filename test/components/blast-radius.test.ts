// The blast radius of routine changes: runs the prod program under mocks before and after each
// change and lists the resources whose replace-forcing inputs (support/replace-inputs.ts) differ,
// honouring ignoreChanges and replaceOnChanges, and replacing whatever takes a replace-forcing
// input from a replaced resource. No machine (Consul server, manager, host, balancer) may be in
// it: replacing all three Consul servers at once loses the Raft data, and what operators change
// (versions, image, strategy, labels) is applied in place by steps after boot. docs/deploy.md
// shows the table.
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { defaultArtifactPath } from "../../components/artifact";
import { certGeneration, type Recorded } from "./support/mocks";
import { runProgram } from "./support/program";
import { REPLACE_INPUTS } from "./support/replace-inputs";
import { ROOT } from "./support/stack";
import { scratch } from "./support/tools";

const ROTATED_KEY =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKABNFMfzWhtcQkkEDTu/kTq88AsiU7mqAMor8XSZJAV rotated@geoswarm";

const at = (v: any, p: string): unknown =>
  p.split(".").reduce((o, k) => (o === undefined || o === null ? undefined : o[k]), v);
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const isComponent = (t: string) => t.startsWith("geoswarm:") || t === "pulumi:pulumi:Stack";

export interface BlastRadius {
  replaced: string[];
  /** Remote steps not replaced whose inputs (script, stdin) changed: they run again in place. */
  rerun: string[];
  created: number;
  deleted: number;
}

/** What `pulumi up` would replace going from `before` to `after` (both mocked runs). */
export function blastRadius(before: Recorded[], after: Recorded[]): BlastRadius {
  const old = new Map(before.filter((r) => !isComponent(r.type)).map((r) => [r.urn, r]));
  const now = after.filter((r) => !isComponent(r.type));
  const replaced = new Set<string>();
  for (let grew = true; grew; ) {
    grew = false;
    for (const r of now) {
      const prev = old.get(r.urn);
      if (!prev || replaced.has(r.urn!)) continue;
      const table = REPLACE_INPUTS[r.type];
      if (!table) throw new Error(`no replace-forcing inputs known for ${r.type} (${r.name})`);
      const ignored = r.options?.ignoreChanges ?? [];
      const paths = table.paths.includes("*")
        ? [...new Set([...Object.keys(prev.inputs), ...Object.keys(r.inputs)])]
        : [
            ...table.paths,
            ...(r.options?.replaceOnChanges ?? []).map((p) => p.replace(/\[\*\]$/, "")),
          ];
      const forced = paths.some((spec) => {
        const [p, condition] = spec.split("?");
        if (condition && !r.inputs[condition]) return false;
        // an ignored input keeps its old value
        if (ignored.some((i) => p === i || p.startsWith(`${i}.`))) return false;
        if (!same(at(prev.inputs, p), at(r.inputs, p))) return true;
        const deps = r.options?.propertyDependencies[p.split(".")[0]] ?? [];
        return deps.some((u) => replaced.has(u));
      });
      if (forced) {
        replaced.add(r.urn!);
        grew = true;
      }
    }
  }
  const urns = new Set(now.map((r) => r.urn));
  // what a step delivers; a changed connection alone (a rotated key) only changes how it logs in
  const delivered = ["create", "update", "stdin", "environment", "source", "remotePath"];
  const rerun = now.filter((r) => {
    const prev = old.get(r.urn);
    return (
      prev &&
      r.type.startsWith("command:") &&
      !replaced.has(r.urn!) &&
      delivered.some((k) => !same(prev.inputs[k], r.inputs[k]))
    );
  });
  return {
    rerun: rerun.map((r) => r.name).sort(),
    replaced: now
      .filter((r) => replaced.has(r.urn!))
      .map((r) => `${r.type.split(":").pop()} ${r.name}`)
      .sort(),
    created: now.filter((r) => !old.has(r.urn)).length,
    deleted: [...old.keys()].filter((u) => !urns.has(u)).length,
  };
}

type Change = [string, (c: Record<string, any>) => void, (() => void)?];

const CHANGES: Change[] = [
  [
    "add a host",
    (c) => c.regions[0].hosts.push({ name: "r1-host-3", instanceType: "t3.medium", labels: {} }),
  ],
  [
    "add a region",
    (c) =>
      c.regions.push({
        name: "region-4",
        awsRegion: "eu-west-1",
        cidr: "10.40.0.0/16",
        hosts: [{ name: "r4-host-1" }],
      }),
  ],
  [
    "rotate the SSH key",
    (c) => {
      c.ssh.publicKey = ROTATED_KEY;
      c.sshPrivateKey =
        "-----BEGIN OPENSSH PRIVATE KEY-----\nrotated\n-----END OPENSSH PRIVATE KEY-----";
    },
  ],
  ["change ssh.allowedCidr", (c) => (c.ssh.allowedCidr = "84.17.32.0/24")],
  [
    "new balancer artifact",
    () => {},
    () => {
      const copy = path.join(scratch(), "geoswarm-lb.cjs");
      copyFileSync(defaultArtifactPath(), copy);
      writeFileSync(copy, `${readFileSync(copy, "utf8")}\n// a new build\n`);
      // A new build comes with its native addon (when built), as `npm run build:lb` makes them.
      const addon = path.join(path.dirname(defaultArtifactPath()), "geoswarm-lb.node");
      if (existsSync(addon)) copyFileSync(addon, path.join(path.dirname(copy), "geoswarm-lb.node"));
      copyFileSync(`${addon}.json`, path.join(path.dirname(copy), "geoswarm-lb.node.json"));
      vi.doMock("../../components/artifact", async (original) => ({
        ...(await original<typeof import("../../components/artifact")>()),
        defaultArtifactPath: () => copy,
      }));
    },
  ],
  [
    "new entry point",
    (c) =>
      c.entryPoints.push({
        name: "r3nginx",
        region: "region-3",
        serviceLabel: "region-3.nginx",
        privatePort: 80,
        lbPort: 22003,
      }),
  ],
  [
    "certificate renewal (the CA and every certificate)",
    () => {},
    () => (certGeneration.value = 1),
  ],
  ["consul.version", (c) => (c.consul.version = "1.20.5-1")],
  ["swarm.image", (c) => (c.swarm.image = "swarm:1.2.8")],
  ["a host's labels", (c) => (c.regions[0].hosts[0].labels = { cpu: "high", disk: "nvme" })],
  ["swarm.strategy", (c) => (c.swarm.strategy = "spread")],
  ["balancer.nodeVersion", (c) => (c.balancer.nodeVersion = "22.12.0")],
  [
    "enable entry points from labels (balancer.labels)",
    (c) => (c.balancer = { ...c.balancer, labels: { enabled: true } }),
  ],
];

const MARK_BEGIN = "<!-- blast-radius:begin (test/components/blast-radius.test.ts) -->";
const MARK_END = "<!-- blast-radius:end -->";

function renderTable(rows: [string, BlastRadius][]): string {
  const lines = [
    "| routine change | replaced (type name) | steps run again in place | created | deleted |",
    "| --- | --- | --- | --- | --- |",
    ...rows.map(
      ([change, b]) =>
        `| ${change} | ${b.replaced.map((x) => `\`${x}\``).join("<br>") || "nothing"} | ${b.rerun.map((x) => `\`${x}\``).join("<br>") || "none"} | ${b.created} | ${b.deleted} |`,
    ),
  ];
  return lines.join("\n");
}

afterEach(() => {
  certGeneration.value = 0;
  vi.doUnmock("../../components/artifact");
});

describe("blast radius of routine changes", () => {
  const rows: [string, BlastRadius][] = [];

  it("replaces no Consul server, manager, host or balancer (instance, EIP, association) and matches docs/deploy.md", async () => {
    const base = await runProgram();
    for (const [change, mutate, setup] of CHANGES) {
      setup?.();
      const after = await runProgram(mutate);
      certGeneration.value = 0;
      vi.doUnmock("../../components/artifact");
      rows.push([change, blastRadius(base.recorded, after.recorded)]);
    }
    const table = renderTable(rows);
    console.log(`\n${table}\n`);
    for (const [change, b] of rows) {
      const machines = b.replaced.filter((x) => /^(Instance|Eip|EipAssociation) /.test(x));
      expect(machines, change).toEqual([]);
    }
    // ...and what the operator changed is still applied: by steps that run again in place.
    const rerun = Object.fromEntries(rows.map(([change, b]) => [change, b.rerun]));
    expect(rerun["consul.version"]).toEqual([
      "consul-consul-1-consul",
      "consul-consul-2-consul",
      "consul-consul-3-consul",
      "lb-consul",
    ]);
    expect(rerun["swarm.image"]).toEqual([
      "manager-swarm-manager",
      ...["r1-host-1", "r1-host-2", "r2-host-1", "r2-host-2", "r3-host-1"].map(
        (h) => `${h}-swarm-agent`,
      ),
    ]);
    expect(rerun["a host's labels"]).toEqual(["r1-host-1-docker-tls"]);
    expect(rerun["swarm.strategy"]).toEqual(["manager-swarm-manager"]);
    // lb-install restarts the service on the new Node.js
    expect(rerun["balancer.nodeVersion"]).toEqual(["lb-install", "lb-node"]);
    // Labels: a new config (restart) and the range's rules, nothing else.
    const labels = Object.fromEntries(rows)["enable entry points from labels (balancer.labels)"];
    expect(labels.replaced).toEqual(["Command lb-install"]);
    const docFile = path.join(ROOT, "docs/deploy.md");
    const doc = readFileSync(docFile, "utf8");
    const begin = doc.indexOf(MARK_BEGIN);
    const end = doc.indexOf(MARK_END);
    expect(
      begin,
      `docs/deploy.md needs a table between ${MARK_BEGIN} and ${MARK_END}`,
    ).toBeGreaterThan(-1);
    const current = doc.slice(begin + MARK_BEGIN.length, end).trim();
    if (process.env.UPDATE_GOLDEN === "1") {
      writeFileSync(
        docFile,
        `${doc.slice(0, begin + MARK_BEGIN.length)}\n${table}\n${doc.slice(end)}`,
      );
    } else {
      expect(current, "docs/deploy.md's blast-radius table (UPDATE_GOLDEN=1 rewrites it)").toBe(
        table,
      );
    }
  }, 600_000);

  it("follows ignoreChanges and replaced dependencies (the key pair → instance edge)", () => {
    const urn = (n: string) => `urn:${n}`;
    const rec = (name: string, type: string, inputs: any, options: any = {}): Recorded =>
      ({
        type,
        name,
        urn: urn(name),
        raw: inputs,
        inputs,
        options: { ignoreChanges: [], replaceOnChanges: [], propertyDependencies: {}, ...options },
      }) as Recorded;
    const before = [
      rec("k", "aws:ec2/keyPair:KeyPair", { publicKey: "a" }),
      rec(
        "vm",
        "aws:ec2/instance:Instance",
        { keyName: "k" },
        { propertyDependencies: { keyName: [urn("k")] } },
      ),
    ];
    const after = [
      rec("k", "aws:ec2/keyPair:KeyPair", { publicKey: "b" }),
      rec(
        "vm",
        "aws:ec2/instance:Instance",
        { keyName: "k" },
        { propertyDependencies: { keyName: [urn("k")] } },
      ),
    ];
    expect(blastRadius(before, after).replaced).toEqual(["Instance vm", "KeyPair k"]);
    after[1].options!.ignoreChanges = ["keyName"];
    expect(blastRadius(before, after).replaced).toEqual(["KeyPair k"]);
  });
});
