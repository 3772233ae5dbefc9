// The balancer config with entry points from container labels (`[providers.docker]`, issue 15):
// golden file, the real `geoswarm-lb --check` of the built artifact and the shared validator.
// No Pulumi involved.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "smol-toml";
import { describe, expect, it } from "vitest";
import {
  LB_API_PASSWORD_PATH,
  LB_API_TLS_DIR,
  LB_CONFIG_PATH,
  LB_DOCKER_TLS_DIR,
  LB_STATE_PATH,
} from "../../../components/balancer";
import {
  balancerConfig,
  checkLabelsProvider,
  renderBalancerConfig,
} from "../../../components/render/lb";
import { parseLabels, validateConfig } from "../../../lb/src/config";
import { expectGolden } from "../support/golden";
import { ROOT } from "../support/stack";
import { scratch } from "../support/tools";
import { IPS } from "./fixtures";

const CLI = path.join(ROOT, "lb/dist/geoswarm-lb.cjs");

const labels = {
  endpoint: `tcp://${IPS.manager}:2376`,
  tls: {
    cacertPath: `${LB_DOCKER_TLS_DIR}/ca.pem`,
    certPath: `${LB_DOCKER_TLS_DIR}/cert.pem`,
    keyPath: `${LB_DOCKER_TLS_DIR}/key.pem`,
  },
  portRange: "20000-20999",
  drainGrace: "30s",
};
const input = {
  apiPort: 8888,
  apiUser: "geoswarm",
  apiPasswordFile: LB_API_PASSWORD_PATH,
  consulClients: [IPS.manager, "198.51.100.0/24"],
  statePath: LB_STATE_PATH,
  apiTls: { certPath: `${LB_API_TLS_DIR}/cert.pem`, keyPath: `${LB_API_TLS_DIR}/key.pem` },
};
const toml = renderBalancerConfig(balancerConfig({ ...input, labels }));

/** The real `--check`, with the host's /etc/geoswarm-lb played by a scratch folder. */
function check(text: string): { status: number; out: string } {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build:lb`);
  const etc = path.join(scratch(), "etc");
  mkdirSync(path.join(etc, "api"), { recursive: true });
  mkdirSync(path.join(etc, "docker"), { recursive: true });
  writeFileSync(path.join(etc, path.basename(LB_API_PASSWORD_PATH)), "s3cret-generated\n");
  for (const f of [
    "api/cert.pem",
    "api/key.pem",
    "docker/ca.pem",
    "docker/cert.pem",
    "docker/key.pem",
  ])
    writeFileSync(path.join(etc, f), "");
  const file = path.join(etc, "geoswarm-lb.toml");
  writeFileSync(file, text.replaceAll(`${path.dirname(LB_CONFIG_PATH)}/`, `${etc}/`));
  const r = spawnSync(process.execPath, [CLI, "-c", file, "--check"], { encoding: "utf8" });
  return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

describe("geoswarm-lb config with labels", () => {
  it("matches its golden file", () => expectGolden("balancer/geoswarm-lb-labels.toml", toml));

  it("points the provider at the manager over TLS with the balancer's Docker client files, and only with labels", () => {
    expect(renderBalancerConfig(balancerConfig(input))).not.toContain("providers");
    expect(parse(toml).providers).toEqual({
      docker: {
        endpoint: labels.endpoint,
        tls_enabled: true,
        tls_cacert_path: "/etc/geoswarm-lb/docker/ca.pem",
        tls_cert_path: "/etc/geoswarm-lb/docker/cert.pem",
        tls_key_path: "/etc/geoswarm-lb/docker/key.pem",
        listen_host: "0.0.0.0",
        port_range: "20000-20999",
        drain_grace: "30s",
        backend_port_range: "32768-60999",
      },
    });
  });

  it("bounds backend connects with labels on (label servers take [defaults]), and only then", () => {
    expect(parse(toml).defaults).toEqual({ backend_connection_timeout: "3s" });
    expect(parse(renderBalancerConfig(balancerConfig(input))).defaults).toBeUndefined();
    // The balancer applies it to a label server.
    const { config } = validateConfig(parse(toml));
    const req = parseLabels(
      { "geoswarm.lb.port": "20080" },
      {
        prefix: "geoswarm.lb.",
        listenHost: "0.0.0.0",
        portRange: { first: 20000, last: 20999 },
        defaults: config.defaults,
      },
    );
    expect(req.request?.server.backend_connection_timeout).toBe("3s");
  });

  it("passes the shared validateConfig without warnings, with the provider's defaults filled", () => {
    const { config, warnings } = validateConfig(parse(toml));
    expect(warnings).toEqual([]);
    expect(
      (config as unknown as { providers: Record<string, unknown> }).providers.docker,
    ).toMatchObject({
      endpoint: labels.endpoint,
      tls_enabled: true,
      port_range: "20000-20999",
      drain_grace: "30s",
      label_prefix: "geoswarm.lb.",
    });
  });

  it("passes `geoswarm-lb --check`", () => {
    expect(toml).toContain("[providers.docker]");
    const r = check(toml);
    expect(r.out).toContain("configuration OK");
    expect(r.out).not.toContain("warning");
    expect(r.status, r.out).toBe(0);
  });

  it("is refused by `geoswarm-lb --check` with a broken provider (the check reads the section)", () => {
    const r = check(toml.replace('port_range = "20000-20999"', 'port_range = "20999-20000"'));
    expect(r.status, r.out).toBe(2);
    expect(r.out).toContain("providers.docker.port_range");
  });
});

describe("checkLabelsProvider (the Balancer's labels, before anything is created)", () => {
  it("takes what --check takes and refuses the rest, naming the field, the value and what was expected", () => {
    expect(() => checkLabelsProvider("lb", "20000-20999", "30s")).not.toThrow();
    expect(() => checkLabelsProvider("lb", "20000", "30s")).toThrow(
      'Balancer lb: labels.portRange: expected "low-high" with 1 <= low <= high <= 65535, such as "20000-20999", got "20000"',
    );
    expect(() => checkLabelsProvider("lb", "20999-20000", "30s")).toThrow(/got "20999-20000"/);
    expect(() => checkLabelsProvider("lb", "1-65536", "30s")).toThrow(/got "1-65536"/);
    expect(() => checkLabelsProvider("lb", "20000-20999", "30")).toThrow(
      'Balancer lb: labels.drainGrace: expected a Go duration such as "30s", got "30"',
    );
    // The same verdicts as the balancer's own check.
    for (const [range, ok] of [
      ["20000-20999", true],
      ["20999-20000", false],
    ] as const) {
      const text = toml.replace('port_range = "20000-20999"', `port_range = "${range}"`);
      expect(check(text).status === 0, range).toBe(ok);
    }
  });
});
