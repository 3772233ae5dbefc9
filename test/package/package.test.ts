// The library as other teams consume it: `npm pack` (which runs `prepare`: the balancer bundle and
// the component build), then the tarball installed with npm into fresh projects outside the
// repository, one per consumer in examples/ (platform, composition, app). Each consumer is
// type-checked with its own TypeScript (`tsc --noEmit`) and its program run under Pulumi mocks
// by support/mock-run.cjs, copied into the consumer so that everything resolves from the
// consumer's node_modules. No Pulumi CLI or engine exists here: the mocks play the providers,
// and for the app stack the StackReference's outputs are what the mock's newResource returns for
// the `pulumi:pulumi:StackReference` read (see mock-run.cjs). The app's LbServer is then created
// and deleted against a REAL geoswarm-lb (the installed package's artifact, HTTPS with a CA made
// here) by its provider as the engine serialized it from the installed copy.
//
// Installs use the repository lockfile's versions (each consumer's lockfile is seeded from it)
// and npm's cache. platform and app are installed in parallel; composition has the same
// dependencies as platform and shares its node_modules.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import * as https from "node:https";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LbProcess, startLbProcess } from "../lb/support/lb-process";
import { closedPort, nameServer, request, sleep, type TestTcpServer } from "../lb/support/net";
import {
  CONSUMER_NAMES,
  type ConsumerName,
  exampleDependencies,
  isSecret,
  lockedVersion,
  PACKAGE,
  ROOT,
  readStackConfig,
  seededLockfile,
  sha256File,
  TEST_SSH_PUBLIC_KEY,
} from "./support/consumers";

const SUPPORT = path.join(__dirname, "support");
const INSTALLED = "node_modules/@geoswarm/geoswarm";
const LB_SERVER_TYPE = "pulumi-nodejs:dynamic/geoswarm:LbServer";

// biome-ignore lint/suspicious/noExplicitAny: JSON written by mock-run.cjs
type Json = Record<string, any>;
interface MockRun {
  resources: Json[];
  exports: Record<string, { value: unknown; secret: boolean }>;
}

let work: string;
let tarball: string;
let tarballBytes: number;
let listing: string[];
const dirs = {} as Record<ConsumerName, string>;
const timings: Record<string, number> = {};

function run(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; input?: string },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env } });
    let out = "";
    let err = "";
    child.stdout.on("data", (c) => {
      out += c;
    });
    child.stderr.on("data", (c) => {
      err += c;
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0
        ? resolve(out)
        : reject(
            new Error(`${cmd} ${args.join(" ")} (in ${opts.cwd}) exited ${code}:\n${err}${out}`),
          ),
    );
    child.stdin.end(opts.input ?? "");
  });
}

async function timed<T>(label: string, f: () => Promise<T>): Promise<T> {
  const start = Date.now();
  try {
    return await f();
  } finally {
    timings[label] = Date.now() - start;
  }
}

/** Copies examples/<name> and installs the tarball plus the example's dependencies into it. */
async function install(name: ConsumerName): Promise<void> {
  const dir = path.join(work, name);
  cpSync(path.join(ROOT, "examples", name), dir, { recursive: true });
  const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"));
  pkg.dependencies[PACKAGE.name] = `file:${tarball}`;
  for (const field of ["dependencies", "devDependencies"] as const) {
    for (const dep of Object.keys(pkg[field] ?? {})) {
      if (dep !== PACKAGE.name) pkg[field][dep] = lockedVersion(dep);
    }
  }
  writeFileSync(path.join(dir, "package.json"), JSON.stringify(pkg, null, 2));
  writeFileSync(path.join(dir, "package-lock.json"), JSON.stringify(seededLockfile(pkg), null, 2));
  await run(
    "npm",
    [
      "install",
      "--prefer-offline",
      "--ignore-scripts",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
    ],
    { cwd: dir },
  );
}

function addHarness(dir: string): void {
  for (const f of ["mock-run.cjs", "provider-run.cjs"])
    cpSync(path.join(SUPPORT, f), path.join(dir, f));
}

const tsc = (dir: string) =>
  run(process.execPath, ["node_modules/typescript/bin/tsc", "--noEmit", "-p", "."], { cwd: dir });

/** Runs the consumer's index.ts under mocks with its Pulumi.dev.yaml, after `mutate`. */
async function mockRun(
  name: ConsumerName,
  opts: {
    mutate?: (config: Json) => void;
    secrets?: Record<string, string>;
    stacks?: Json;
  } = {},
): Promise<MockRun> {
  const dir = dirs[name];
  const { project, config } = readStackConfig(dir, "dev");
  opts.mutate?.(config);
  const flat: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...config, ...opts.secrets })) {
    flat[k] = typeof v === "string" ? v : JSON.stringify(v);
  }
  const out = path.join(dir, "mock-out.json");
  await run(process.execPath, ["mock-run.cjs", "index.ts"], {
    cwd: dir,
    env: {
      GEOSWARM_MOCK_PROJECT: project,
      GEOSWARM_MOCK_CONFIG: JSON.stringify(flat),
      GEOSWARM_MOCK_SECRET_KEYS: JSON.stringify(Object.keys(opts.secrets ?? {})),
      GEOSWARM_MOCK_STACKS: JSON.stringify(opts.stacks ?? {}),
      GEOSWARM_MOCK_OUT: out,
    },
  });
  return JSON.parse(readFileSync(out, "utf8"));
}

/** A value without Pulumi's secret wrappers. */
// biome-ignore lint/suspicious/noExplicitAny: JSON written by mock-run.cjs
const unwrap = (v: any): any =>
  isSecret(v)
    ? unwrap(v.value)
    : v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]))
      : v;

const ofType = (r: MockRun, type: string) => r.resources.filter((x) => x.type === type);
const one = (r: MockRun, type: string, nameEnd: string) => {
  const found = ofType(r, type).filter((x) => x.name.endsWith(nameEnd));
  expect(
    found.map((x) => x.name),
    `${type} named *${nameEnd}`,
  ).toHaveLength(1);
  return found[0];
};

/** The Balancer ships the INSTALLED artifact: its copy step's source and the install's hash. */
function expectInstalledArtifact(r: MockRun, dir: string): void {
  // Real path: the composition consumer's node_modules is a link to the platform's.
  const artifact = realpathSync(path.join(dir, INSTALLED, "lb/dist/geoswarm-lb.cjs"));
  const copy = one(r, "command:remote:CopyToRemote", "-copy-artifact");
  expect(copy.inputs.source).toEqual({ asset: "file", path: artifact });
  const install = one(r, "command:remote:Command", "-install");
  expect(unwrap(install.inputs.triggers)[0]).toBe(sha256File(artifact));
}

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "geoswarm-consumers-"));
  const packed = await timed("pack", () =>
    run("npm", ["pack", "--json", "--loglevel=error", "--pack-destination", work], { cwd: ROOT }),
  );
  const [info] = JSON.parse(packed.slice(packed.indexOf("[")));
  tarball = path.join(work, info.filename);
  tarballBytes = info.size;
  listing = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" })
    .split("\n")
    .filter(Boolean)
    .map((f) => f.replace(/^package\//, ""));
  await timed("install (platform and app, in parallel)", () =>
    Promise.all([install("platform"), install("app")]),
  );
  dirs.platform = path.join(work, "platform");
  dirs.app = path.join(work, "app");
  dirs.composition = path.join(work, "composition");
  cpSync(path.join(ROOT, "examples/composition"), dirs.composition, { recursive: true });
  symlinkSync(
    path.join(dirs.platform, "node_modules"),
    path.join(dirs.composition, "node_modules"),
  );
  for (const name of CONSUMER_NAMES) addHarness(dirs[name]);
}, 300_000);

afterAll(() => {
  process.stdout.write(
    `package consumers: tarball ${tarballBytes} bytes; ${Object.entries(timings)
      .map(([k, ms]) => `${k} ${(ms / 1000).toFixed(1)} s`)
      .join(", ")}\n`,
  );
  // Two installs are ~450 MB of small files: removing them takes longer than the tests on a busy
  // disk, so it runs after the test file, detached.
  if (work) spawn("rm", ["-rf", work], { detached: true, stdio: "ignore" }).unref();
});

describe("the packed tarball", () => {
  it("holds the built library, its types and maps, the balancer bundles and nothing else", () => {
    const allowed = [
      /^package\.json$/,
      /^README\.md$/,
      /^CHANGELOG\.md$/,
      /^dist\/components\/.+\.(js|d\.ts|js\.map|d\.ts\.map)$/,
      /^dist\/lb\/src\/config\/(types|workers)\.(js|d\.ts|js\.map|d\.ts\.map)$/,
      // The sources the maps point to.
      /^components\/.+\.ts$/,
      /^lb\/src\/config\/(types|workers)\.ts$/,
      /^lb\/dist\/(geoswarm-lb|config)\.cjs$/,
      // The native data-path addon and its manifest: `prepack` fails without gcc.
      /^lb\/dist\/geoswarm-lb\.node(\.json)?$/,
    ];
    expect(listing.filter((f) => !allowed.some((re) => re.test(f)))).toEqual([]);
    for (const f of [
      "dist/components/index.js",
      "dist/components/index.d.ts",
      "dist/components/index.js.map",
      "dist/components/lb-server-entry.js",
      "dist/components/lb-server-entry.d.ts",
      "dist/components/lb-server-provider.js",
      "lb/dist/geoswarm-lb.cjs",
      "lb/dist/config.cjs",
      "CHANGELOG.md",
    ]) {
      expect(listing).toContain(f);
    }
    // Every module the built library requires relatively is in the tarball.
    for (const js of listing.filter((f) => f.endsWith(".js"))) {
      const text = readFileSync(path.join(ROOT, js), "utf8");
      for (const [, rel] of text.matchAll(/require\("(\.{1,2}\/[^"]+)"\)/g)) {
        expect(listing, `${js} requires ${rel}`).toContain(
          `${path.posix.join(path.posix.dirname(js), rel)}.js`,
        );
      }
    }
    // Always: a package without the addon would run every consumer's balancer on the JS path
    // (and fail nativeDataPath "required"); `prepack` refuses to pack without it.
    expect(listing).toContain("lb/dist/geoswarm-lb.node");
    expect(listing).toContain("lb/dist/geoswarm-lb.node.json");
    expect(listing.some((f) => /^(test|bench|scripts|docs|examples)\//.test(f))).toBe(false);
    expect(listing.some((f) => /Pulumi\..*ya?ml$|^index\.ts$/.test(f))).toBe(false);
  });

  it("names what it needs: AWS providers are optional peers, the balancer's libraries are bundled", () => {
    expect(PACKAGE.private).toBeUndefined();
    expect(PACKAGE.name).toMatch(/^@[a-z0-9-]+\/[a-z0-9-]+$/);
    expect(Object.keys(PACKAGE.dependencies).sort()).toEqual(["smol-toml", "zod"]);
    expect(PACKAGE.peerDependencies["@pulumi/pulumi"]).toBe(`^${lockedVersion("@pulumi/pulumi")}`);
    expect(PACKAGE.peerDependenciesMeta["@pulumi/pulumi"]).toBeUndefined();
    for (const aws of ["@pulumi/aws", "@pulumi/command", "@pulumi/random", "@pulumi/tls"]) {
      expect(PACKAGE.peerDependencies[aws]).toBe(`^${lockedVersion(aws)}`);
      expect(PACKAGE.peerDependenciesMeta[aws]).toEqual({ optional: true });
    }
    expect(PACKAGE.engines.node).toBe(">=22");
    expect(readFileSync(path.join(ROOT, "CHANGELOG.md"), "utf8")).toContain(
      `## ${PACKAGE.version}`,
    );
  });
});

describe("consumers outside the repository", () => {
  it("declare what the lockfile holds", () => {
    for (const name of CONSUMER_NAMES) {
      for (const [dep, range] of Object.entries(exampleDependencies(name))) {
        const want = dep === PACKAGE.name ? `^${PACKAGE.version}` : `^${lockedVersion(dep)}`;
        expect(`${name}: ${dep}@${range}`).toBe(`${name}: ${dep}@${want}`);
      }
    }
  });

  it("platform stack: the whole cluster from one Cluster and its stack config", async () => {
    const dir = dirs.platform;
    await timed("platform tsc", () => tsc(dir));
    const r = await timed("platform mocks", () =>
      mockRun("platform", {
        // The example's key is a placeholder the config checks refuse, as they should.
        mutate: (c) => {
          c["geoswarm:ssh"].publicKey = TEST_SSH_PUBLIC_KEY;
        },
        secrets: { "geoswarm:sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n" },
      }),
    );
    const [root] = ofType(r, "geoswarm:index:Cluster");
    expect(root.name).toBe("dev");
    // Every resource has the Cluster as an ancestor.
    const byUrn = new Map(r.resources.map((x) => [x.urn, x]));
    const rootOf = (x: Json): Json => (byUrn.has(x.parent) ? rootOf(byUrn.get(x.parent)!) : x);
    expect(r.resources.filter((x) => rootOf(x) !== root).map((x) => x.urn)).toEqual([]);
    // Three Consul servers, the balancer, the manager and the two hosts of Pulumi.dev.yaml.
    expect(ofType(r, "aws:ec2/instance:Instance")).toHaveLength(7);
    expect(
      ofType(r, "geoswarm:index:DockerHost")
        .map((h) => h.name)
        .sort(),
    ).toEqual(["lab-host-1", "lab-host-2"]);
    expect(ofType(r, LB_SERVER_TYPE).map((s) => s.inputs.server.bind)).toEqual(["0.0.0.0:22001"]);
    expectInstalledArtifact(r, dir);
    expect(r.exports.balancerApiUrl.value).toMatch(/^https:\/\//);
    expect(r.exports.balancerApiPassword.secret).toBe(true);
    expect(r.exports.balancerApiCaPem.value).toContain("BEGIN CERTIFICATE");
  }, 120_000);

  it("composition stack: one region from the individual components", async () => {
    const dir = dirs.composition;
    expect(exampleDependencies("composition")).toEqual(exampleDependencies("platform"));
    await timed("composition tsc", () => tsc(dir));
    const r = await timed("composition mocks", () =>
      mockRun("composition", {
        mutate: (c) => {
          c["geoswarm-composition:sshPublicKey"] = TEST_SSH_PUBLIC_KEY;
        },
        secrets: { "geoswarm-composition:sshPrivateKey": "fake" },
      }),
    );
    expect(ofType(r, "geoswarm:index:Cluster")).toEqual([]);
    expect(ofType(r, "aws:ec2/instance:Instance")).toHaveLength(7);
    const balancer = one(r, "geoswarm:index:Balancer", "lab-lb");
    const [web] = ofType(r, LB_SERVER_TYPE);
    expect(web.name).toBe("lab-web");
    expect(web.parent).toBe(balancer.urn);
    expect(unwrap(web.inputs.api).caPem).toContain("BEGIN CERTIFICATE");
    expectInstalledArtifact(r, dir);
  }, 120_000);

  describe("app stack: LbServers on the platform's balancer through a StackReference", () => {
    let lb: LbProcess;
    let backend: TestTcpServer;
    let lbDir: string;
    let apiBase: string;
    let caPem: string;
    const PASSWORD = "app-test-password-0123456789";

    beforeAll(async () => {
      lbDir = path.join(work, "lb");
      cpSync(path.join(SUPPORT, "api-cert.sh"), path.join(work, "api-cert.sh"));
      execFileSync("bash", [path.join(work, "api-cert.sh"), lbDir]);
      caPem = readFileSync(path.join(lbDir, "ca.pem"), "utf8");
      const apiPort = await closedPort();
      writeFileSync(
        path.join(lbDir, "lb.toml"),
        [
          "[api]",
          "enabled = true",
          `bind = "127.0.0.1:${apiPort}"`,
          "[api.basic_auth]",
          'login = "platform"',
          `password = "${PASSWORD}"`,
          "[api.tls]",
          `cert_path = "${path.join(lbDir, "api.crt")}"`,
          `key_path = "${path.join(lbDir, "api.key")}"`,
          "",
        ].join("\n"),
      );
      // The balancer the installed package ships, as the Balancer would run it on its machine.
      lb = await startLbProcess(["-c", path.join(lbDir, "lb.toml")], {
        artifact: path.join(dirs.app, INSTALLED, "lb/dist/geoswarm-lb.cjs"),
      });
      apiBase = `https://127.0.0.1:${apiPort}`;
      backend = await nameServer("shop-1");
    }, 60_000);

    afterAll(async () => {
      lb?.kill();
      await backend?.close();
    });

    /** GET on the real balancer's API, pinning the test CA. */
    const apiGet = (route: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const auth = Buffer.from(`platform:${PASSWORD}`).toString("base64");
        https
          .get(
            `${apiBase}${route}`,
            { ca: caPem, headers: { authorization: `Basic ${auth}` } },
            (res) => {
              let body = "";
              res.on("data", (c) => {
                body += c;
              });
              res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
            },
          )
          .on("error", reject);
      });

    it("installs without @pulumi/aws and the other AWS-side providers", () => {
      for (const dep of ["@pulumi/aws", "@pulumi/command", "@pulumi/random", "@pulumi/tls"]) {
        expect(existsSync(path.join(dirs.app, "node_modules", dep)), dep).toBe(false);
      }
      expect(existsSync(path.join(dirs.app, INSTALLED, "package.json"))).toBe(true);
    });

    it("type-checks, registers its LbServer with the referenced secrets, and the provider serialized from the installed copy creates and deletes it on a real geoswarm-lb", async () => {
      const dir = dirs.app;
      await timed("app tsc", () => tsc(dir));
      const lbPort = await closedPort();
      const platformStack = "acme/geoswarm-platform/dev";
      const r = await timed("app mocks", () =>
        mockRun("app", {
          // The test's own port and backend instead of Pulumi.dev.yaml's.
          mutate: (c) => {
            expect(c["geoswarm-app:platformStack"]).toBe(platformStack);
            c["geoswarm-app:port"] = String(lbPort);
            c["geoswarm-app:backends"] = [`127.0.0.1:${backend.port}`];
          },
          // What the engine would return for the reference: the platform stack's outputs, with the
          // password among its secret outputs (as the platform example exports it).
          stacks: {
            [platformStack]: {
              outputs: {
                balancerApiUrl: apiBase,
                balancerApiUser: "platform",
                balancerApiPassword: PASSWORD,
                balancerApiCaPem: caPem,
                balancerId: "i-0platform",
              },
              secretOutputNames: ["balancerApiPassword"],
            },
          },
        }),
      );
      expect(ofType(r, "pulumi:pulumi:StackReference").map((x) => x.inputs.name)).toEqual([
        platformStack,
      ]);
      const [shop] = ofType(r, LB_SERVER_TYPE);
      expect(shop.name).toBe("shop");
      // The password reaches the engine inside a secret, and the state's `api` is secret too.
      expect(isSecret(shop.inputs.api)).toBe(true);
      expect(shop.additionalSecretOutputs).toContain("api");
      expect(unwrap(shop.inputs.api)).toEqual({
        url: apiBase,
        username: "platform",
        password: PASSWORD,
        caPem,
      });
      expect(shop.inputs.balancerId).toBe("i-0platform");

      // The provider as the engine stores it: serialized from node_modules, pointing at the
      // installed schema bundle, holding no credentials.
      const text: string = shop.inputs.__provider;
      const schema = path.join(dir, INSTALLED, "lb/dist/config.cjs");
      expect(text).toContain(JSON.stringify(schema));
      expect(text).not.toContain(ROOT);
      expect(text).not.toContain(PASSWORD);
      const providerFile = path.join(dir, "provider.js");
      writeFileSync(providerFile, text);
      const call = async (method: string, args: unknown[]) => {
        const res = JSON.parse(
          await run(process.execPath, ["provider-run.cjs", providerFile], {
            cwd: dir,
            input: JSON.stringify({ method, args }),
          }),
        );
        if (!res.ok) throw new Error(`${method}: ${res.error}`);
        return res.result;
      };
      const news = unwrap(shop.inputs) as Json;
      await timed("app create/delete on a real geoswarm-lb", async () => {
        const checked = await call("check", [{}, news]);
        expect(checked.failures ?? []).toEqual([]);
        const created = await call("create", [checked.inputs]);
        expect(created.id).toBe("shop");
        expect(created.outs.api.password).toBe(PASSWORD);
        const got = await apiGet("/servers/shop");
        expect(got.status).toBe(200);
        expect(JSON.parse(got.body)).toMatchObject({ bind: `0.0.0.0:${lbPort}` });
        // Served through the balancer (the ping health check may first mark the backend up).
        let served = "";
        for (const t0 = Date.now(); served !== "shop-1\n" && Date.now() - t0 < 15_000; ) {
          served = (await request(lbPort, undefined, { timeoutMs: 2000 })).data;
          if (served !== "shop-1\n") await sleep(200);
        }
        expect(served).toBe("shop-1\n");
        await call("delete", [created.id, { ...created.outs, __provider: text }]);
        // gobetween's contract, which geoswarm-lb keeps: an unknown server is `200 null`.
        expect(JSON.parse((await apiGet("/servers/shop")).body)).toBeNull();
        expect((await request(lbPort, undefined, { timeoutMs: 2000 })).error).toMatch(
          /ECONNREFUSED/,
        );
      });
    }, 120_000);
  });
});
