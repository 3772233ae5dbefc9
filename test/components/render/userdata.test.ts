// Pure renderer tests: each host's cloud-init user data against golden files, validated by the
// real tools: `cloud-init schema`, shellcheck for every script it writes, `systemd-analyze verify`
// for every unit, and the schemas for Consul and Docker daemon JSON. No Pulumi involved.
import { describe, expect, it } from "vitest";
import {
  balancerUserData,
  consulServerUserData,
  dockerHostUserData,
  managerUserData,
} from "../../../components/render/cloudinit";
import { consulConfigSchema } from "../../../components/render/consul";
import { daemonJsonSchema } from "../../../components/render/docker";
import { expectGolden } from "../support/golden";
import {
  expectShellcheckClean,
  expectValidCloudConfig,
  expectValidUnit,
  parseYaml,
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
        tls: TLS,
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
        tls: TLS,
        swarm: { mode: "swarm", managerAddr: `${IPS.manager}:2377`, token: "SWMTKN-1-abc" },
      }),
  ],
  [
    "manager-standalone",
    () =>
      managerUserData({
        hostname: "swarm-manager",
        publicIp: IPS.manager,
        tls: TLS,
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
        tls: TLS,
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
  it("never enables live-restore with swarm mode and never listens on 2375", () => {
    const doc = (name: string) => {
      const text = cases.find(([n]) => n === name)![1]();
      const d = parseYaml(text.slice(text.indexOf("\n") + 1)) as Doc;
      return JSON.parse(d.write_files.find((f) => f.path === "/etc/docker/daemon.json")!.content);
    };
    expect(doc("docker-host-swarm")["live-restore"]).toBe(false);
    expect(doc("docker-host-standalone")["live-restore"]).toBe(true);
    expect(doc("docker-host-standalone").hosts).toEqual([
      "unix:///var/run/docker.sock",
      "tcp://0.0.0.0:2376",
    ]);
    expect(doc("docker-host-standalone").labels).toEqual([
      "region=region-1",
      "cpu=high",
      "disk=ssd",
    ]);
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
