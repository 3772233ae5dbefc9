// Pure renderer tests: each host's cloud-init user data against golden files, validated by the
// real tools: `cloud-init schema`, shellcheck for every script it writes, `systemd-analyze verify`
// for every unit, and the schemas for Consul and Docker daemon JSON. No Pulumi involved.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import {
  balancerUserData,
  consulServerUserData,
  DOCKER_IO_VERSION,
  dockerHostUserData,
  engineTlsDaemonJson,
  managerUserData,
  swarmAgentUnit,
  swarmManagerUnit,
} from "../../../components/render/cloudinit";
import { consulConfigSchema, renderConsulConfig } from "../../../components/render/consul";
import {
  type ConsulInstallOptions,
  consulInstallScript,
  HASHICORP_KEYRING,
} from "../../../components/render/consul-install";
import { daemonJsonSchema } from "../../../components/render/docker";
import {
  HASHICORP_APT_KEY,
  HASHICORP_APT_KEY_FINGERPRINT,
} from "../../../components/render/hashicorp-key";
import {
  asRootScript,
  authorizedKeysScript,
  cloudInitCheckScript,
  dockerTlsBundle,
  dockerTlsInstallScript,
  swarmJoinScript,
  unitInstallScript,
} from "../../../components/render/machine-scripts";
import { consulServersScript, installNodeScript } from "../../../components/render/scripts";
import { consulUnit } from "../../../components/render/systemd";
import { expectGolden, GOLDEN_DIR } from "../support/golden";
import {
  expectShellcheckClean,
  expectValidCloudConfig,
  expectValidUnit,
  haveTool,
  parseYaml,
  scratch,
} from "../support/tools";
import { clientConfig, DISCOVERY, IPS, serverConfig, TLS } from "./fixtures";

interface Doc {
  hostname: string;
  write_files?: { path: string; content: string; permissions: string }[];
  runcmd?: string[][];
  packages?: (string | string[])[];
}

const CONSUL_SERVER_STEP: ConsulInstallOptions = {
  version: "1.20.2-1",
  nodeName: "consul-2",
  httpAddr: "http://127.0.0.1:8500",
  servers: ["consul-1", "consul-2", "consul-3"],
};
const CONSUL_CLIENT_STEP: ConsulInstallOptions = {
  version: "1.20.2-1",
  nodeName: "balancer",
  httpAddr: "http://127.0.0.1:18500",
  servers: [],
  files: [
    {
      path: "/usr/local/lib/geoswarm/consul-servers.sh",
      content: consulServersScript(),
      mode: "0755",
    },
  ],
};
const AGENT_UNIT = swarmAgentUnit({
  image: "swarm:1.2.9",
  publicIp: IPS.host,
  discoveryUrl: DISCOVERY,
});
const MANAGER_UNIT = swarmManagerUnit({
  image: "swarm:1.2.9",
  strategy: "spread",
  discoveryUrl: DISCOVERY,
});

const cases: [string, () => string][] = [
  ["docker-host-standalone", () => dockerHostUserData({ hostname: "r1-host-1", swarmMode: false })],
  ["docker-host-swarm", () => dockerHostUserData({ hostname: "r2-host-1", swarmMode: true })],
  [
    "manager-standalone",
    () => managerUserData({ hostname: "swarm-manager", publicIp: IPS.manager, swarmMode: false }),
  ],
  [
    "manager-swarm",
    () => managerUserData({ hostname: "swarm-manager", publicIp: IPS.manager, swarmMode: true }),
  ],
  ["consul-server", () => consulServerUserData({ hostname: "consul-2" })],
  ["balancer", () => balancerUserData({ hostname: "balancer", lbUser: "geoswarm-lb" })],
];

describe.each(cases)("user data: %s", (name, render) => {
  const text = render();
  const doc = parseYaml(text.slice(text.indexOf("\n") + 1)) as Doc;
  const files = doc.write_files ?? [];

  it("matches its golden file", () => expectGolden(`userdata/${name}.yaml`, text));

  it("passes `cloud-init schema`", () => expectValidCloudConfig(text, name));

  it("round-trips through PyYAML with file contents intact", () => {
    expect(text.startsWith("#cloud-config\n")).toBe(true);
    expect(doc.hostname).toMatch(/^[a-z0-9-]+$/);
    for (const f of files) {
      expect(f.content.length, f.path).toBeGreaterThan(0);
      expect(f.permissions).toMatch(/^0[0-7]{3}$/);
    }
    expect(text.length, "EC2 user data limit is 16 KB").toBeLessThan(16 * 1024);
  });

  it("writes only shellcheck-clean scripts", () => {
    const scripts = files.filter((f) => f.content.startsWith("#!/bin/sh"));
    // Every file with a shebang is checked: a script with another interpreter is not skipped.
    expect(scripts.length).toBe(files.filter((f) => f.content.startsWith("#!")).length);
    for (const s of scripts) expectShellcheckClean(s.content, `${name}: ${s.path}`);
  });

  it("writes only units that `systemd-analyze verify` accepts", () => {
    const units = files.filter(
      (f) => /\.(service|conf)$/.test(f.path) && f.path.includes("systemd"),
    );
    // Every file under a systemd directory is checked, whatever its extension.
    expect(units.length).toBe(files.filter((f) => f.path.includes("/systemd/")).length);
    for (const f of units) {
      // A drop-in is checked as part of a minimal unit it would extend.
      const unit = f.path.endsWith(".conf")
        ? `[Unit]\nDescription=drop-in check\n\n${f.content}`
        : f.content;
      expectValidUnit(
        unit,
        f.path.endsWith(".conf") ? "dropin-check.service" : f.path.split("/").pop()!,
        `${name}: ${f.path}`,
      );
    }
  });

  it("writes JSON configs that match their schemas", () => {
    const schemas: Record<string, { parse(v: unknown): unknown }> = {
      "/etc/docker/daemon.json": daemonJsonSchema,
    };
    const checked = files.filter((f) => f.path in schemas);
    // every engine boots with its daemon.json; a renamed path must not turn this into a no-op
    expect(checked.length).toBe(
      name.startsWith("docker-host") || name.startsWith("manager") ? 1 : 0,
    );
    for (const f of checked) schemas[f.path].parse(JSON.parse(f.content));
  });

  it("holds no secret, certificate, token or Consul config (they change or renew)", () => {
    expect(text).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE|SWMTKN|"encrypt"|consul\.d/);
  });

  it("keeps private keys and tokens out of world-readable files", () => {
    for (const f of files) {
      if (/PRIVATE KEY|SWMTKN|"encrypt"/.test(f.content))
        expect(f.permissions, f.path).toMatch(/^06[04]0$/);
    }
  });
});

describe("renderer details", () => {
  const parse = (name: string) => {
    const text = cases.find(([n]) => n === name)![1]();
    return parseYaml(text.slice(text.indexOf("\n") + 1)) as Doc & {
      apt?: { sources: Record<string, Record<string, string>> };
    };
  };
  const bootDaemon = (name: string) =>
    JSON.parse(parse(name).write_files!.find((f) => f.path === "/etc/docker/daemon.json")!.content);

  it("never enables live-restore with swarm mode and never listens on 2375", () => {
    expect(bootDaemon("docker-host-swarm")["live-restore"]).toBe(false);
    expect(bootDaemon("docker-host-standalone")["live-restore"]).toBe(true);
    const tls = JSON.parse(engineTlsDaemonJson({ region: "region-1", cpu: "high" }, false));
    daemonJsonSchema.parse(tls);
    expect(tls.hosts).toEqual(["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"]);
    expect(tls.tlsverify).toBe(true);
    // labels are operator config: they arrive with the TLS daemon.json, never in user data
    expect(tls.labels).toEqual(["region=region-1", "cpu=high"]);
    for (const name of ["docker-host-standalone", "docker-host-swarm", "manager-standalone"])
      expect(bootDaemon(name).labels, name).toEqual([]);
  });

  it("boots engines without a certificate, key or join token (they arrive after boot)", () => {
    for (const name of [
      "docker-host-standalone",
      "docker-host-swarm",
      "manager-standalone",
      "manager-swarm",
    ]) {
      const text = cases.find(([n]) => n === name)![1]();
      expect(text, name).not.toMatch(/BEGIN (CERTIFICATE|EC PRIVATE KEY|PRIVATE KEY)|SWMTKN/);
      // dockerd refuses to start when a TLS file it is told about is missing
      const daemon = bootDaemon(name);
      expect(daemon.hosts, name).toEqual(["unix:///var/run/docker.sock"]);
      expect(daemon.tlscert, name).toBeUndefined();
    }
  });

  it("pins and holds docker.io at the noble build that accepts standalone Swarm's API 1.22", () => {
    expect(DOCKER_IO_VERSION).toMatch(/^24\.0\.\d+-0ubuntu\d+$/);
    for (const name of ["docker-host-standalone", "manager-standalone", "manager-swarm"]) {
      const doc = parse(name);
      expect(doc.packages, name).toContainEqual(["docker.io", DOCKER_IO_VERSION]);
      expect(doc.packages, name).not.toContain("docker.io");
      expect(doc.runcmd![0], name).toEqual(["apt-mark", "hold", "docker.io"]);
    }
  });

  it("embeds HashiCorp's armoured apt key in the Consul step, not in user data or a keyserver", () => {
    for (const name of ["consul-server", "balancer"]) expect(parse(name).apt, name).toBeUndefined();
    const script = consulInstallScript(CONSUL_SERVER_STEP);
    expect(script).toContain(`cat >"$work/hashicorp.asc" <<'GEOSWARM_EOF'\n${HASHICORP_APT_KEY}`);
    expect(script).toContain(
      `deb [signed-by=${HASHICORP_KEYRING}] https://apt.releases.hashicorp.com`,
    );
    expect(script).not.toMatch(/keyserver|recv-keys/);
    if (!haveTool("gpg", "gnupg")) return;
    const file = path.join(scratch(), "hashicorp.asc");
    writeFileSync(file, HASHICORP_APT_KEY);
    const out = execFileSync("gpg", ["--show-keys", "--with-colons", file], {
      encoding: "utf8",
      env: { ...process.env, GNUPGHOME: scratch() },
    });
    const fingerprints = out
      .split("\n")
      .filter((l) => l.startsWith("fpr:"))
      .map((l) => l.split(":")[9]);
    expect(fingerprints[0]).toBe(HASHICORP_APT_KEY_FINGERPRINT);
    expect(out).toContain("security+packaging@hashicorp.com");
  });

  it("rejects Consul configs that would need a manual bootstrap or join themselves", () => {
    const bad = { ...serverConfig(0), bootstrap_expect: undefined };
    expect(consulConfigSchema.safeParse(bad).success).toBe(false);
    const self = { ...serverConfig(0), retry_join: [IPS.consul[0]] };
    expect(consulConfigSchema.safeParse(self).success).toBe(false);
    expect(serverConfig(0).retry_join).toEqual([IPS.consul[1], IPS.consul[2]]);
  });

  it("rejects a daemon.json with a plain TCP listener", () => {
    const plain = {
      ...daemonJsonSchema.parse(JSON.parse(JSON.stringify(daemonLike()))),
      tlsverify: false,
    };
    expect(daemonJsonSchema.safeParse(plain).success).toBe(false);
  });
});

function daemonLike() {
  return {
    hosts: ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"],
    tls: true,
    tlsverify: true,
    tlscacert: "/etc/docker/tls/ca.pem",
    tlscert: "/etc/docker/tls/cert.pem",
    tlskey: "/etc/docker/tls/key.pem",
    labels: ["region=x"],
    "log-driver": "local",
    "live-restore": true,
  };
}

describe("after-boot scripts", () => {
  const scripts: [string, string][] = [
    ["cloud-init check", cloudInitCheckScript()],
    [
      "authorized keys",
      authorizedKeysScript(["ssh-ed25519 AAAAC3Nza1 a@b", "ssh-rsa AAAAB3Nza2 c@d"]),
    ],
    ["docker TLS install", dockerTlsInstallScript("/etc/docker/tls")],
    ["swarm join", swarmJoinScript(IPS.host, `${IPS.manager}:2377`, "/etc/geoswarm/swarm-token")],
    ["consul server install", consulInstallScript(CONSUL_SERVER_STEP)],
    ["consul client install", consulInstallScript(CONSUL_CLIENT_STEP)],
    ["swarm agent unit", unitInstallScript("geoswarm-swarm-agent.service", AGENT_UNIT)],
    ["swarm manager unit", unitInstallScript("geoswarm-swarm-manager.service", MANAGER_UNIT)],
    ["node install", asRootScript("install-node.sh", installNodeScript("22.23.3"))],
  ];
  it.each(scripts)("%s is shellcheck-clean and golden", (name, text) => {
    expectShellcheckClean(text, name);
    expectGolden(`userdata/after-boot/${name.replace(/ /g, "-")}.sh`, text);
  });

  it("embeds only scripts and units the real validators accept", () => {
    // what the steps write, taken back out of their here-documents
    const embedded = (script: string) =>
      [...script.matchAll(/<<'GEOSWARM_EOF'\n([\s\S]*?)\nGEOSWARM_EOF/g)].map((m) => `${m[1]}\n`);
    const client = embedded(consulInstallScript(CONSUL_CLIENT_STEP));
    expect(client).toContain(consulServersScript());
    expect(client).toContain(consulUnit("/etc/consul.d/geoswarm.json"));
    for (const s of client.filter((c) => c.startsWith("#!"))) expectShellcheckClean(s, "embedded");
    expect(embedded(asRootScript("x", installNodeScript("22.23.3")))).toEqual([
      installNodeScript("22.23.3"),
    ]);
    for (const [unit, name] of [
      [consulUnit("/etc/consul.d/geoswarm.json"), "consul.service"],
      [AGENT_UNIT, "geoswarm-swarm-agent.service"],
      [MANAGER_UNIT, "geoswarm-swarm-manager.service"],
    ])
      expectValidUnit(unit, name, name);
    expect(() => unitInstallScript("x; rm -rf /", AGENT_UNIT)).toThrow(/not a .service unit/);
    expect(() => consulInstallScript({ ...CONSUL_SERVER_STEP, version: "1.20" })).toThrow(
      /version "1.20" is not a Debian version/,
    );
  });

  it("sends the Consul step a config its schema accepts", () => {
    for (const c of [serverConfig(1), clientConfig()])
      consulConfigSchema.parse(JSON.parse(renderConsulConfig(c)));
  });

  it("refuses to write an empty or malformed authorized_keys", () => {
    expect(() => authorizedKeysScript([])).toThrow(/no keys/);
    expect(() => authorizedKeysScript(["not a key"])).toThrow(/not an OpenSSH public key line/);
  });

  it("round-trips the TLS bundle the install script reads from stdin", () => {
    const bundle = dockerTlsBundle({
      "ca.pem": TLS.caPem,
      "cert.pem": TLS.certPem,
      "key.pem": TLS.keyPem,
      "daemon.json": "{}\n",
    });
    const dir = scratch();
    // The script's own read loop, with install replaced by a copy into dir.
    const loop = dockerTlsInstallScript("/x").split("\n");
    const body = loop.slice(
      loop.findIndex((l) => l.startsWith("while read")),
      loop.indexOf("done") + 1,
    );
    const r = spawnSync("sh", ["-c", `set -eu\nwork=${dir}\n${body.join("\n")}`], {
      input: bundle,
      encoding: "utf8",
    });
    expect(r.stderr).toBe("");
    expect(readFileSync(path.join(dir, "key.pem"), "utf8")).toBe(TLS.keyPem);
    expect(readFileSync(path.join(dir, "daemon.json"), "utf8")).toBe("{}\n");
  });

  describe("the cloud-init check against recorded status outputs", () => {
    const dir = path.join(GOLDEN_DIR, "userdata/cloud-init-status");
    const run = (file: string) => {
      const rc = Number(/\.rc(\d)\.json$/.exec(file)![1]);
      const bin = scratch();
      // A stand-in cloud-init: `status --wait` exits with the recorded code, the JSON call prints.
      writeFileSync(
        path.join(bin, "cloud-init"),
        `#!/bin/sh\ncase "$*" in *json*) cat '${path.join(dir, file)}' ;; esac\nexit ${rc}\n`,
      );
      chmodSync(path.join(bin, "cloud-init"), 0o755);
      return spawnSync("sh", ["-c", cloudInitCheckScript()], {
        encoding: "utf8",
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      });
    };
    const files = readdirSync(dir).filter((f) => f.endsWith(".json"));

    it("has recordings of a good, a degraded and failed boots", () => {
      expect(files.sort()).toEqual([
        "degraded.rc2.json",
        "done.rc0.json",
        "failed-22.4.rc1.json",
        "failed.rc1.json",
        "running-22.4.rc0.json",
      ]);
    });

    it("passes a good boot", () => {
      const r = run("done.rc0.json");
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^cloud-init done on /);
    });

    it("passes a degraded boot with its warnings on stderr", () => {
      const r = run("degraded.rc2.json");
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toContain("cloud-init WARNING on");
      expect(r.stderr).toContain("no NTP client found");
    });

    it("fails a failed boot naming each failing module", () => {
      const r = run("failed.rc1.json");
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^cloud-init failed on \S+:/);
      expect(r.stderr).toContain("module package_update_upgrade_install: ProcessExecutionError(");
      expect(r.stderr).toContain("for 'docker.io' was not found");
      expect(r.stderr).toContain("module scripts_user: RuntimeError('Runparts: 1 failures");
      // each module once, although the top level and modules-final both list it
      expect(r.stderr.match(/module scripts_user/g)).toHaveLength(1);
    });

    it("reads cloud-init 22.4's format too", () => {
      const r = run("failed-22.4.rc1.json");
      expect(r.status).toBe(1);
      expect(r.stderr).toContain("module scripts_user: RuntimeError(");
    });

    it("fails when cloud-init has not finished", () => {
      const r = run("running-22.4.rc0.json");
      expect(r.status).toBe(1);
      expect(r.stderr).toContain("did not finish: status 'running'");
    });
  });
});
