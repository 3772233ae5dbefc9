// Pure renderer tests for what the Balancer component ships over SSH: the geoswarm-lb config
// (golden file, the real `geoswarm-lb --check` and the shared validateConfig), its systemd unit
// (`systemd-analyze verify`) and the install script (shellcheck). No Pulumi involved.
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "smol-toml";
import { describe, expect, it } from "vitest";
import {
  LB_CONFIG_PATH,
  LB_DOCKER_TLS_DIR,
  LB_INSTALL_DIR,
  LB_UNIT,
  LB_USER,
} from "../../../components/balancer";
import { CONSUL_SERVERS_SCRIPT } from "../../../components/render/cloudinit";
import { balancerConfig, renderBalancerConfig } from "../../../components/render/lb";
import { lbInstallScript, NODE_BIN } from "../../../components/render/scripts";
import { lbUnit } from "../../../components/render/systemd";
import { validateConfig } from "../../../lb/src/config";
import { expectGolden } from "../support/golden";
import { ROOT } from "../support/stack";
import { expectShellcheckClean, expectValidUnit, scratch } from "../support/tools";
import { IPS } from "./fixtures";

const CLI = path.join(ROOT, "lb/dist/geoswarm-lb.cjs");

const input = {
  apiPort: 8888,
  apiUser: "geoswarm",
  apiPassword: "s3cret-generated",
  consulClients: [IPS.manager, IPS.host, ...IPS.consul, IPS.host, "198.51.100.0/24"],
};
const toml = renderBalancerConfig(balancerConfig(input));

function check(text: string): { status: number; out: string } {
  if (!existsSync(CLI)) {
    // The vitest global setup builds it; running without it would validate nothing.
    throw new Error(`${CLI} is missing: run npm run build:lb`);
  }
  const file = path.join(scratch(), "geoswarm-lb.toml");
  writeFileSync(file, text);
  const r = spawnSync(process.execPath, [CLI, "-c", file, "--check"], { encoding: "utf8" });
  return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

describe("geoswarm-lb config", () => {
  it("matches its golden file", () => expectGolden("balancer/geoswarm-lb.toml", toml));

  it("passes `geoswarm-lb --check`", () => {
    const r = check(toml);
    expect(r.out).toContain("configuration OK");
    expect(r.status, r.out).toBe(0);
  });

  it("writes workers only above 1, as a top-level key the balancer accepts", () => {
    expect(toml).not.toContain("workers");
    const two = renderBalancerConfig(balancerConfig({ ...input, workers: 2 }));
    expect(two).toMatch(/^workers = 2$/m);
    expect(validateConfig(parse(two)).config.workers).toBe(2);
  });

  it("passes the shared validateConfig without warnings", () => {
    const { config, warnings } = validateConfig(parse(toml));
    expect(warnings).toEqual([]);
    const consul = config.servers.consul;
    expect(consul).toMatchObject({ bind: "0.0.0.0:8500", balance: "iphash", protocol: "tcp" });
    expect(consul.discovery).toMatchObject({
      kind: "exec",
      exec_command: [CONSUL_SERVERS_SCRIPT],
      failpolicy: "keeplast",
      interval: "10s",
      timeout: "5s",
    });
    expect(consul.healthcheck.kind).toBe("none");
    expect(config.api).toMatchObject({
      enabled: true,
      bind: ":8888",
      basic_auth: { login: "geoswarm", password: "s3cret-generated" },
    });
  });

  it("denies by default and allows each cluster address once, as /32", () => {
    const rules = balancerConfig(input).servers?.consul?.access?.rules;
    expect(rules).toEqual([
      `allow ${IPS.manager}/32`,
      `allow ${IPS.host}/32`,
      ...IPS.consul.map((ip) => `allow ${ip}/32`),
      "allow 198.51.100.0/24",
    ]);
    expect(balancerConfig(input).servers?.consul?.access?.default).toBe("deny");
  });

  it("is refused by `geoswarm-lb --check` when broken (the check is real)", () => {
    const r = check(toml.replace('balance = "iphash"', 'balance = "fastest"'));
    expect(r.status).toBe(2);
  });
});

describe("geoswarm-lb unit and install script", () => {
  const unit = (lowestPort: number) =>
    lbUnit({
      nodePath: NODE_BIN,
      artifactPath: `${LB_INSTALL_DIR}/geoswarm-lb.cjs`,
      configPath: LB_CONFIG_PATH,
      user: LB_USER,
      lowestPort,
    });

  it("unit matches its golden file and passes `systemd-analyze verify`", () => {
    expectGolden("balancer/geoswarm-lb.service", unit(1024));
    expectValidUnit(unit(1024), LB_UNIT, "geoswarm-lb.service");
  });

  it("grants CAP_NET_BIND_SERVICE only for ports below 1024", () => {
    expect(unit(1024)).not.toContain("CAP_NET_BIND_SERVICE");
    expect(unit(80)).toContain("AmbientCapabilities=CAP_NET_BIND_SERVICE");
    expectValidUnit(unit(80), LB_UNIT, "geoswarm-lb.service (port 80)");
  });

  it("install script matches its golden file, passes shellcheck and checks before restarting", () => {
    const script = lbInstallScript({
      stagingDir: "/home/ubuntu/geoswarm-lb-staging",
      installDir: LB_INSTALL_DIR,
      configPath: LB_CONFIG_PATH,
      unitName: LB_UNIT,
      user: LB_USER,
    });
    expectGolden("balancer/install.sh", script);
    expectShellcheckClean(script, "install.sh");
    expect(script).toMatch(/--check[\s\S]*systemctl restart/);
  });

  it("installs the docker client TLS files before the check when dockerTlsDir is given", () => {
    const script = lbInstallScript({
      stagingDir: "/home/ubuntu/geoswarm-lb-staging",
      installDir: LB_INSTALL_DIR,
      configPath: LB_CONFIG_PATH,
      unitName: LB_UNIT,
      user: LB_USER,
      dockerTlsDir: LB_DOCKER_TLS_DIR,
    });
    expectShellcheckClean(script, "install-tls.sh");
    expect(script).toContain(
      `sudo install -m 0640 -g 'geoswarm-lb' "$staging/docker-key.pem" '/etc/geoswarm-lb/docker/key.pem'`,
    );
    expect(script).toMatch(/docker\/cert\.pem[\s\S]*--check/);
  });
});
