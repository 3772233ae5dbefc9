// Pure renderer tests for what the Balancer component ships over SSH: the geoswarm-lb config
// (golden file, the real `geoswarm-lb --check` and the shared validateConfig), its systemd unit
// (`systemd-analyze verify`) and the install script (shellcheck). No Pulumi involved.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { parse } from "smol-toml";
import { describe, expect, it } from "vitest";
import {
  LB_API_PASSWORD_PATH,
  LB_API_TLS_DIR,
  LB_CONFIG_PATH,
  LB_DOCKER_TLS_DIR,
  LB_STATE_PATH,
  LB_UNIT,
} from "../../../components/balancer";
import { CONSUL_SERVERS_SCRIPT } from "../../../components/render/cloudinit";
import { balancerConfig, renderBalancerConfig } from "../../../components/render/lb";
import { LB_STAGED_SECRETS, lbInstallScript } from "../../../components/render/scripts";
import { LB_STATE_DIRECTORY, lbUnit } from "../../../components/render/systemd";
import { validateConfig } from "../../../lb/src/config";
import { expectGolden } from "../support/golden";
import { scriptOptions, unitOptions } from "../support/lb-options";
import { ROOT } from "../support/stack";
import { expectShellcheckClean, expectValidUnit, scratch } from "../support/tools";
import { IPS } from "./fixtures";

const CLI = path.join(ROOT, "lb/dist/geoswarm-lb.cjs");

const input = {
  apiPort: 8888,
  apiUser: "geoswarm",
  apiPasswordFile: LB_API_PASSWORD_PATH,
  consulClients: [IPS.manager, IPS.host, ...IPS.consul, IPS.host, "198.51.100.0/24"],
  statePath: LB_STATE_PATH,
  apiTls: { certPath: `${LB_API_TLS_DIR}/cert.pem`, keyPath: `${LB_API_TLS_DIR}/key.pem` },
};
const toml = renderBalancerConfig(balancerConfig(input));

/**
 * Runs the real `--check`, which reads the password file and checks the TLS files as start-up
 * would: the host's /etc/geoswarm-lb is played by a scratch folder holding those files.
 */
function check(text: string): { status: number; out: string } {
  if (!existsSync(CLI)) {
    // The vitest global setup builds it; running without it would validate nothing.
    throw new Error(`${CLI} is missing: run npm run build:lb`);
  }
  const etc = path.join(scratch(), "etc");
  mkdirSync(path.join(etc, "api"), { recursive: true });
  writeFileSync(path.join(etc, path.basename(LB_API_PASSWORD_PATH)), "s3cret-generated\n");
  writeFileSync(path.join(etc, "api", "cert.pem"), "");
  writeFileSync(path.join(etc, "api", "key.pem"), "");
  const file = path.join(etc, "geoswarm-lb.toml");
  writeFileSync(file, text.replaceAll(`${path.dirname(LB_CONFIG_PATH)}/`, `${etc}/`));
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
      basic_auth: { login: "geoswarm", password_file: LB_API_PASSWORD_PATH },
    });
  });

  it("keeps the API password out of the config: password_file, read by --check", () => {
    expect(toml).not.toMatch(/^password\s*=/m);
    expect(toml).toContain(`password_file = "${LB_API_PASSWORD_PATH}"`);
    const r = check(toml);
    expect(r.status, r.out).toBe(0);
    // A missing file is found by the check, as start-up would find it.
    const missing = check(toml.replace("api-password", "no-such-password"));
    expect(missing.status).toBe(2);
    expect(missing.out).toContain("api.basic_auth.password_file: cannot read");
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

  it("keeps API-registered servers in a [state] file inside the unit's StateDirectory", () => {
    const { config } = validateConfig(parse(toml));
    const stateDirectory = /^StateDirectory=(.+)$/m.exec(
      lbUnit({ ...unitOptions, stateDirectory: LB_STATE_DIRECTORY }),
    )?.[1];
    expect(stateDirectory).toBe(LB_STATE_DIRECTORY);
    // systemd creates /var/lib/<StateDirectory> writable for the user despite ProtectSystem=strict.
    expect(path.dirname(config.state.path)).toBe(`/var/lib/${stateDirectory}`);
    expect(path.basename(config.state.path)).toMatch(/^[\w.-]+\.json$/);
    expect(check(toml).out).toContain("configuration OK");
  });

  it("serves the API over HTTPS when given a certificate: --check says https, without warning", () => {
    const { config } = validateConfig(parse(toml));
    expect(config.api.tls).toEqual({
      cert_path: `${LB_API_TLS_DIR}/cert.pem`,
      key_path: `${LB_API_TLS_DIR}/key.pem`,
    });
    const r = check(toml);
    expect(r.out).toContain("api: :8888 (basic auth, https)");
    expect(r.out).not.toContain("warning");
  });

  it("without a certificate, `geoswarm-lb --check` warns that the password crosses in clear", () => {
    const plain = renderBalancerConfig(balancerConfig({ ...input, apiTls: undefined }));
    expect(plain).not.toContain("[api.tls]");
    const r = check(plain);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain(
      'geoswarm-lb: warning: api.basic_auth: the API serves plain HTTP on ":8888", so the password crosses the network in clear',
    );
  });

  it("is refused by `geoswarm-lb --check` when broken (the check is real)", () => {
    const r = check(toml.replace('balance = "iphash"', 'balance = "fastest"'));
    expect(r.status).toBe(2);
  });
});

describe("geoswarm-lb unit and install script", () => {
  const unit = (lowestPort: number) => lbUnit({ ...unitOptions, lowestPort });

  it("unit matches its golden file and passes `systemd-analyze verify`", () => {
    expectGolden("balancer/geoswarm-lb.service", unit(1024));
    expectValidUnit(unit(1024), LB_UNIT, "geoswarm-lb.service");
  });

  it("grants CAP_NET_BIND_SERVICE only for ports below 1024, and bounds capabilities to it", () => {
    expect(unit(1024)).not.toContain("CAP_NET_BIND_SERVICE");
    expect(unit(1024)).toMatch(/^CapabilityBoundingSet=$/m);
    expect(unit(80)).toContain("AmbientCapabilities=CAP_NET_BIND_SERVICE");
    expect(unit(80)).toMatch(/^CapabilityBoundingSet=CAP_NET_BIND_SERVICE$/m);
    expectValidUnit(unit(80), LB_UNIT, "geoswarm-lb.service (port 80)");
  });

  // Measured with systemd 252: 8.5 EXPOSED before the hardening (issue 13, item 14), 1.5 OK
  // after (1.7 with CAP_NET_BIND_SERVICE).
  it.each([
    [1024, 1.5],
    [80, 1.7],
  ])("port %i: `systemd-analyze security` rates the unit at most %f", (port, most) => {
    const text = unit(port);
    for (const line of [
      "PrivateDevices=yes",
      "ProtectKernelTunables=yes",
      "ProtectKernelModules=yes",
      "ProtectKernelLogs=yes",
      "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
      "SystemCallFilter=@system-service",
      "SystemCallErrorNumber=EPERM",
    ]) {
      expect(text).toContain(line);
    }
    // V8 writes executable memory: MemoryDenyWriteExecute would kill the balancer.
    expect(text).not.toContain("MemoryDenyWriteExecute");
    const file = path.join(scratch(), LB_UNIT);
    writeFileSync(file, text);
    const r = spawnSync("systemd-analyze", ["security", "--offline=true", "--no-pager", file], {
      encoding: "utf8",
    });
    const score = /Overall exposure level for \S+: ([0-9.]+)/.exec(`${r.stdout}${r.stderr}`)?.[1];
    expect(score, `${r.stdout}${r.stderr}`).toBeDefined();
    expect(Number(score)).toBeLessThanOrEqual(most);
  });

  it("installs the API password file before the check, readable by the service's group only", () => {
    const script = lbInstallScript({ ...scriptOptions, apiPasswordFile: LB_API_PASSWORD_PATH });
    expect(script).toContain(
      "put api-password '/etc/geoswarm-lb/api-password' -m 0640 -g 'geoswarm-lb'",
    );
    expect(script).toMatch(/api-password[\s\S]*--check/);
    expect(LB_STAGED_SECRETS).toContain("api-password");
    expectShellcheckClean(script, "install-password.sh");
  });

  it("install script matches its golden file, passes shellcheck and checks before restarting", () => {
    const script = lbInstallScript(scriptOptions);
    expectGolden("balancer/install.sh", script);
    expectShellcheckClean(script, "install.sh");
    expect(script).toMatch(/--check[\s\S]*systemctl restart/);
  });

  it("without the native addon (nativeDataPath off), removes one an earlier install left", () => {
    // The other settings: render/native-data-path.test.ts.
    expect(lbInstallScript(scriptOptions)).toContain(
      "sudo rm -f '/opt/geoswarm-lb/geoswarm-lb.node' '/opt/geoswarm-lb/geoswarm-lb.node.id'",
    );
  });

  it("installs the docker client TLS files before the check when dockerTlsDir is given", () => {
    const script = lbInstallScript({ ...scriptOptions, dockerTlsDir: LB_DOCKER_TLS_DIR });
    expectShellcheckClean(script, "install-tls.sh");
    expect(script).toContain(
      "put docker-key.pem '/etc/geoswarm-lb/docker/key.pem' -m 0640 -g 'geoswarm-lb'",
    );
    expect(script).toMatch(/docker\/cert\.pem[\s\S]*--check/);
  });

  it("installs the API's HTTPS files and probes /ping over HTTPS trusting only that CA", () => {
    const script = lbInstallScript({
      ...scriptOptions,
      dockerTlsDir: LB_DOCKER_TLS_DIR,
      apiTlsDir: LB_API_TLS_DIR,
    });
    expectGolden("balancer/install-tls.sh", script);
    expectShellcheckClean(script, "install-api-tls.sh");
    expect(script).toContain(
      "put api-key.pem '/etc/geoswarm-lb/api/key.pem' -m 0640 -g 'geoswarm-lb'",
    );
    expect(script).toMatch(/api\/cert\.pem[\s\S]*--check/);
    expect(script).toContain("ping_url='https://127.0.0.1:8888/ping'");
    expect(script).toContain("--cacert '/etc/geoswarm-lb/api/ca.pem'");
  });
});

// The install script run for real by sh, with sudo replaced by a stub that only records (no root,
// no systemd here); curl, date, sleep and rm are real, and /ping is a real local HTTP server.
describe("install script run (sudo stubbed)", () => {
  function setUp(): { dir: string; staging: string; log: string; env: NodeJS.ProcessEnv } {
    const dir = scratch();
    const staging = path.join(dir, "staging");
    const bin = path.join(dir, "bin");
    mkdirSync(staging);
    mkdirSync(bin);
    for (const f of ["geoswarm-lb.cjs", LB_UNIT, ...LB_STAGED_SECRETS]) {
      writeFileSync(path.join(staging, f), f);
    }
    const log = path.join(dir, "sudo.log");
    writeFileSync(
      path.join(bin, "sudo"),
      `#!/bin/sh
echo "$*" >> "$SUDO_LOG"
case "$1" in
  journalctl) [ -n "\${JOURNAL:-}" ] && echo "$JOURNAL" || echo "fake journal: listen EADDRINUSE :8888" ;;
  test) exit "\${INSTALLED_RC:-0}" ;;
  cat) [ -n "\${RUNNING_KEY:-}" ] && echo "$RUNNING_KEY" || exit 1 ;;
  tee) cat > "$SUDO_TEE" ;;
  systemctl) [ "$2" = is-active ] && exit "\${ACTIVE_RC:-3}" ;;
esac
exit 0
`,
      { mode: 0o755 },
    );
    return {
      dir,
      staging,
      log,
      env: {
        ...process.env,
        PATH: `${bin}:${process.env.PATH}`,
        SUDO_LOG: log,
        SUDO_TEE: path.join(dir, "restart-key"),
      },
    };
  }

  /** Runs the script with sh; resolves with its exit status and output. */
  function runScript(
    script: string,
    env: NodeJS.ProcessEnv,
  ): Promise<{ status: number | null; out: string; ms: number }> {
    const started = Date.now();
    return new Promise((resolve) => {
      const child = spawn("sh", ["-c", script], { env });
      let out = "";
      child.stdout.on("data", (c) => {
        out += c;
      });
      child.stderr.on("data", (c) => {
        out += c;
      });
      child.on("exit", (status) => resolve({ status, out, ms: Date.now() - started }));
    });
  }

  async function freePort(): Promise<number> {
    const s = net.createServer().listen(0, "127.0.0.1");
    await once(s, "listening");
    const port = (s.address() as net.AddressInfo).port;
    await new Promise((r) => s.close(r));
    return port;
  }

  it("waits for the API's /ping after the restart, then removes the staged secrets", async () => {
    const { staging, log, env } = setUp();
    const port = await freePort();
    const script = lbInstallScript({ ...scriptOptions, stagingDir: staging, apiPort: port });
    // The API comes up 2 s after the script starts (the service is still starting).
    let server: http.Server | undefined;
    const late = setTimeout(() => {
      server = http
        .createServer((req, res) => res.end(req.url === "/ping" ? "OK" : "no"))
        .listen(port, "127.0.0.1");
    }, 2000);
    try {
      const r = await runScript(script, env);
      expect(r.status, r.out).toBe(0);
      expect(r.ms).toBeGreaterThanOrEqual(2000);
      expect(readFileSync(log, "utf8")).toMatch(
        /systemctl restart geoswarm-lb.service\n(.*\n)?tee /,
      );
      const left = readdirSync(staging).sort();
      expect(left).toEqual(["geoswarm-lb.cjs", LB_UNIT].sort());
    } finally {
      clearTimeout(late);
      server?.close();
    }
  }, 20_000);

  it("reloads instead of restarting when the running service has the same restart key, and records the key", async () => {
    const port = await freePort();
    const server = http.createServer((_req, res) => res.end("OK")).listen(port, "127.0.0.1");
    await once(server, "listening");
    try {
      for (const [running, active, action] of [
        ["key-1", "0", "reload"],
        ["key-0", "0", "restart"],
        ["key-1", "3", "restart"],
        ["", "0", "restart"],
      ] as const) {
        const { dir, staging, log, env } = setUp();
        const script = lbInstallScript({
          ...scriptOptions,
          stagingDir: staging,
          apiPort: port,
          restartKey: "key-1",
        });
        const r = await runScript(script, {
          ...env,
          RUNNING_KEY: running,
          ACTIVE_RC: active,
          JOURNAL: '{"level":30,"msg":"configuration reloaded"}',
        });
        const what = `running ${running || "(none)"}, is-active rc ${active}`;
        expect(r.status, `${what}: ${r.out}`).toBe(0);
        const calls = readFileSync(log, "utf8");
        expect(calls, what).toContain(`systemctl ${action} geoswarm-lb.service`);
        expect(calls, what).not.toContain(
          `systemctl ${action === "reload" ? "restart" : "reload"} geoswarm-lb.service`,
        );
        expect(readFileSync(path.join(dir, "restart-key"), "utf8"), what).toBe("key-1\n");
      }
    } finally {
      server.close();
    }
  }, 30_000);

  it("fails a reload the balancer refused (its journal says so): the old servers keep running, the update must not pass", async () => {
    const port = await freePort();
    const server = http.createServer((_req, res) => res.end("OK")).listen(port, "127.0.0.1");
    await once(server, "listening");
    try {
      for (const journal of [
        '{"level":50,"msg":"reload failed; running configuration kept"}',
        // One server refused, the rest applied: the reload still ends "configuration reloaded".
        '{"level":50,"msg":"reload: server not applied"}\n{"level":30,"msg":"configuration reloaded"}',
      ]) {
        const { staging, env } = setUp();
        const script = lbInstallScript({
          ...scriptOptions,
          stagingDir: staging,
          apiPort: port,
          restartKey: "key-1",
        });
        const r = await runScript(script, {
          ...env,
          RUNNING_KEY: "key-1",
          ACTIVE_RC: "0",
          JOURNAL: journal,
        });
        expect(r.status, r.out).toBe(1);
        expect(r.out).toContain("did not apply the new configuration (the running one stays)");
        // The secrets stay staged for the retry.
        expect(readdirSync(staging)).toContain("config.toml");
      }
    } finally {
      server.close();
    }
  }, 30_000);

  it("fails after the bounded wait with the URL, the time and the unit's last log lines; secrets stay staged", async () => {
    const { staging, env } = setUp();
    const port = await freePort();
    const script = lbInstallScript({
      ...scriptOptions,
      stagingDir: staging,
      apiPort: port,
      readySeconds: 2,
    });
    const r = await runScript(script, env);
    expect(r.status).toBe(1);
    expect(r.out).toContain(
      `geoswarm-lb install: the API did not answer GET http://127.0.0.1:${port}/ping within 2 s after restarting geoswarm-lb.service`,
    );
    expect(r.out).toMatch(/\(last attempt: curl: \(7\) .*\); its last log lines:/);
    expect(r.out).toContain("fake journal: listen EADDRINUSE :8888");
    expect(r.ms).toBeLessThan(10_000);
    // Kept for the retry: the copy steps will not run again.
    for (const f of LB_STAGED_SECRETS) expect(existsSync(path.join(staging, f)), f).toBe(true);
  }, 20_000);

  it("accepts a secret already installed by an earlier run, refuses one never installed", async () => {
    const { staging, log, env } = setUp();
    const server = http.createServer((_req, res) => res.end("OK")).listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as net.AddressInfo).port;
    try {
      rmSync(path.join(staging, "config.toml"));
      const script = lbInstallScript({ ...scriptOptions, stagingDir: staging, apiPort: port });
      const ok = await runScript(script, env);
      expect(ok.status, ok.out).toBe(0);
      expect(readFileSync(log, "utf8")).not.toContain("staging/config.toml");
      rmSync(path.join(staging, "config.toml"), { force: true });
      const missing = await runScript(script, { ...env, INSTALLED_RC: "1" });
      expect(missing.status).toBe(1);
      expect(missing.out).toContain(
        `${staging}/config.toml is not staged and /etc/geoswarm-lb/config.toml was never installed`,
      );
    } finally {
      server.close();
    }
  }, 20_000);
});
