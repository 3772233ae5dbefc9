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
} from "../../../components/render/cloudinit";
import { consulConfigSchema } from "../../../components/render/consul";
import { daemonJsonSchema } from "../../../components/render/docker";
import {
  HASHICORP_APT_KEY,
  HASHICORP_APT_KEY_FINGERPRINT,
} from "../../../components/render/hashicorp-key";
import {
  authorizedKeysScript,
  cloudInitCheckScript,
  dockerTlsBundle,
  dockerTlsInstallScript,
  swarmJoinScript,
} from "../../../components/render/machine-scripts";
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
  write_files: { path: string; content: string; permissions: string }[];
  runcmd: string[][];
  packages: (string | string[])[];
}

const cases: [string, () => string][] = [
  [
    "docker-host-standalone",
    () =>
      dockerHostUserData({
        hostname: "r1-host-1",
        publicIp: IPS.host,
        labels: { region: "region-1", cpu: "high", disk: "ssd" },
        swarm: { mode: "standalone", image: "swarm:1.2.9", discoveryUrl: DISCOVERY },
      }),
  ],
  [
    "docker-host-swarm",
    () =>
      dockerHostUserData({
        hostname: "r2-host-1",
        publicIp: IPS.host,
        labels: { region: "region-2" },
        swarm: { mode: "swarm" },
      }),
  ],
  [
    "manager-standalone",
    () =>
      managerUserData({
        hostname: "swarm-manager",
        publicIp: IPS.manager,
        swarm: {
          mode: "standalone",
          image: "swarm:1.2.9",
          strategy: "spread",
          discoveryUrl: DISCOVERY,
        },
      }),
  ],
  [
    "manager-swarm",
    () =>
      managerUserData({
        hostname: "swarm-manager",
        publicIp: IPS.manager,
        swarm: { mode: "swarm" },
      }),
  ],
  [
    "consul-server",
    () =>
      consulServerUserData({
        hostname: "consul-2",
        consulVersion: "1.20.2-1",
        config: serverConfig(1),
      }),
  ],
  [
    "balancer",
    () =>
      balancerUserData({
        hostname: "balancer",
        consulVersion: "1.20.2-1",
        config: clientConfig(),
        nodeVersion: "22.23.3",
        lbUser: "geoswarm-lb",
      }),
  ],
];

describe.each(cases)("user data: %s", (name, render) => {
  const text = render();
  const doc = parseYaml(text.slice(text.indexOf("\n") + 1)) as Doc;

  it("matches its golden file", () => expectGolden(`userdata/${name}.yaml`, text));

  it("passes `cloud-init schema`", () => expectValidCloudConfig(text, name));

  it("round-trips through PyYAML with file contents intact", () => {
    expect(text.startsWith("#cloud-config\n")).toBe(true);
    expect(doc.write_files.length).toBeGreaterThan(0);
    for (const f of doc.write_files) {
      expect(f.content.length, f.path).toBeGreaterThan(0);
      expect(f.permissions).toMatch(/^0[0-7]{3}$/);
    }
    expect(text.length, "EC2 user data limit is 16 KB").toBeLessThan(16 * 1024);
  });

  it("writes only shellcheck-clean scripts", () => {
    const scripts = doc.write_files.filter((f) => f.content.startsWith("#!/bin/sh"));
    // Every file with a shebang is checked: a script with another interpreter is not skipped.
    expect(scripts.length).toBe(doc.write_files.filter((f) => f.content.startsWith("#!")).length);
    for (const s of scripts) expectShellcheckClean(s.content, `${name}: ${s.path}`);
  });

  it("writes only units that `systemd-analyze verify` accepts", () => {
    const units = doc.write_files.filter(
      (f) => /\.(service|conf)$/.test(f.path) && f.path.includes("systemd"),
    );
    // Every file under a systemd directory is checked, whatever its extension.
    expect(units.length).toBe(doc.write_files.filter((f) => f.path.includes("/systemd/")).length);
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
      "/etc/consul.d/geoswarm.json": consulConfigSchema,
    };
    const checked = doc.write_files.filter((f) => f.path in schemas);
    // every role writes at least one of them; a renamed path must not turn this into a no-op
    expect(checked.length).toBeGreaterThan(0);
    for (const f of checked) schemas[f.path].parse(JSON.parse(f.content));
  });

  it("keeps private keys and tokens out of world-readable files", () => {
    for (const f of doc.write_files) {
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
    JSON.parse(parse(name).write_files.find((f) => f.path === "/etc/docker/daemon.json")!.content);

  it("never enables live-restore with swarm mode and never listens on 2375", () => {
    expect(bootDaemon("docker-host-swarm")["live-restore"]).toBe(false);
    expect(bootDaemon("docker-host-standalone")["live-restore"]).toBe(true);
    const tls = JSON.parse(engineTlsDaemonJson({ region: "region-1", cpu: "high" }, false));
    daemonJsonSchema.parse(tls);
    expect(tls.hosts).toEqual(["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"]);
    expect(tls.tlsverify).toBe(true);
    expect(bootDaemon("docker-host-standalone").labels).toEqual([
      "region=region-1",
      "cpu=high",
      "disk=ssd",
    ]);
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
      expect(doc.runcmd[0], name).toEqual(["apt-mark", "hold", "docker.io"]);
    }
  });

  it("embeds HashiCorp's armoured apt key instead of asking a keyserver at boot", () => {
    for (const name of ["consul-server", "balancer"]) {
      const source = parse(name).apt!.sources.hashicorp;
      expect(source.key).toBe(HASHICORP_APT_KEY);
      expect(source.keyserver, name).toBeUndefined();
      expect(source.keyid, name).toBeUndefined();
    }
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
  ];
  it.each(scripts)("%s is shellcheck-clean and golden", (name, text) => {
    expectShellcheckClean(text, name);
    expectGolden(`userdata/after-boot/${name.replace(/ /g, "-")}.sh`, text);
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
