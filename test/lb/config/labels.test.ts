// Labels of the docker-labels provider and [providers.docker], read with the config file's own
// validators (no Docker): every problem names the label, its value and what was expected.
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  ConfigError,
  loadConfig,
  parseConfigText,
  parseLabels,
  validateConfig,
  validateDockerProvider,
} from "../../../lb/src/config";

const DEFAULTS = {
  max_connections: 0,
  client_idle_timeout: "0",
  backend_idle_timeout: "0",
  backend_connection_timeout: "0",
};
const OPTS = {
  prefix: "geoswarm.lb.",
  listenHost: "0.0.0.0",
  portRange: { first: 20000, last: 20999 },
  defaults: DEFAULTS,
};

function labels(l: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(l).map(([k, v]) => [`geoswarm.lb.${k}`, v]));
}

function problems(l: Record<string, string>): string[] {
  const r = parseLabels({ other: "x", ...labels(l) }, OPTS);
  return (r.problems ?? []).map((p) => `${p.label}=${JSON.stringify(p.value)}: ${p.problem}`);
}

describe("container labels", () => {
  it("two labels make a tcp server with the defaults; every optional label is applied", () => {
    const min = parseLabels(labels({ port: "20080" }), OPTS).request;
    expect(min?.port).toBe(20080);
    expect(min?.server).toMatchObject({
      bind: "0.0.0.0:20080",
      protocol: "tcp",
      balance: "weight",
      healthcheck: { kind: "none" },
      access: null,
      proxy_protocol: null,
      discovery: { kind: "static", static_list: [] },
    });
    const full = parseLabels(
      labels({
        port: "20081",
        target: "8080",
        balance: "leastconn",
        healthcheck: "ping",
        "healthcheck.interval": "2s",
        "healthcheck.fails": "3",
        "healthcheck.passes": "2",
        max_connections: "100",
        proxy_protocol: "2",
        access: "allow 10.0.0.0/8, deny 10.1.0.0/16,deny all",
        weight: "5",
      }),
      OPTS,
    ).request;
    expect(full).toMatchObject({ port: 20081, target: 8080, weight: 5, protocol: "tcp" });
    expect(full?.server).toMatchObject({
      balance: "leastconn",
      max_connections: 100,
      healthcheck: { kind: "ping", interval: "2s", fails: 3, passes: 2 },
      proxy_protocol: { version: "2" },
      access: { default: "deny", rules: ["allow 10.0.0.0/8", "deny 10.1.0.0/16"] },
    });
    const udp = parseLabels(labels({ port: "20053", protocol: "udp" }), OPTS).request;
    expect(udp?.server.protocol).toBe("udp");
    expect(udp?.server.udp).not.toBeNull();
  });

  it("names the label, the value and what was expected for each bad value", () => {
    expect(problems({})).toEqual(['geoswarm.lb.port="": required (the balancer\'s listen port)']);
    expect(problems({ port: "80" })).toEqual([
      'geoswarm.lb.port="80": expected a port in the allowed range 20000-20999 (providers.docker.port_range), got 80',
    ]);
    expect(problems({ port: "web" })).toEqual([
      'geoswarm.lb.port="web": expected an integer 1-65535, got "web"',
    ]);
    expect(problems({ port: "20080", balance: "fastest" })).toEqual([
      'geoswarm.lb.balance="fastest": expected one of "weight", "roundrobin", "leastconn", "leastbandwidth", "iphash", "iphash1", got "fastest"',
    ]);
    expect(problems({ port: "20080", protocol: "tls" })[0]).toMatch(
      /^geoswarm\.lb\.protocol="tls": expected one of "tcp", "udp" \(TLS termination/,
    );
    expect(problems({ port: "20080", max_connections: "-1" })).toEqual([
      'geoswarm.lb.max_connections="-1": expected an integer >= 0, got -1',
    ]);
    expect(problems({ port: "20080", healthcheck: "exec" })[0]).toMatch(
      /^geoswarm\.lb\.healthcheck="exec": expected "ping" or "none"/,
    );
    expect(
      problems({ port: "20080", healthcheck: "ping", "healthcheck.interval": "soon" }),
    ).toEqual([
      'geoswarm.lb.healthcheck.interval="soon": expected a Go duration such as "500ms", "10s", "1h30m" or "0", got "soon"',
    ]);
    expect(problems({ port: "20080", "healthcheck.fails": "2" })).toEqual([
      'geoswarm.lb.healthcheck.fails="2": only used with geoswarm.lb.healthcheck=ping',
    ]);
    expect(problems({ port: "20053", protocol: "udp", healthcheck: "ping" })[0]).toMatch(
      /^geoswarm\.lb\.healthcheck="ping": expected "probe", "exec" or "none" for a udp server/,
    );
    expect(problems({ port: "20080", proxy_protocol: "3" })).toEqual([
      'geoswarm.lb.proxy_protocol="3": expected "1" or "2", got "3"',
    ]);
    expect(problems({ port: "20080", access: "allow 10.0.0.0/33" })).toEqual([
      'geoswarm.lb.access="allow 10.0.0.0/33": expected "allow <ip|cidr>" or "deny <ip|cidr>", got "allow 10.0.0.0/33" (in "allow 10.0.0.0/33")',
    ]);
    expect(problems({ port: "20080", access: "deny all,allow 10.0.0.1" })[0]).toMatch(
      /^geoswarm\.lb\.access=.*"deny all" only as the last rule/,
    );
    expect(problems({ port: "20080", weight: "0" })).toEqual([
      'geoswarm.lb.weight="0": expected an integer >= 1, got "0"',
    ]);
    expect(problems({ port: "20080", balanec: "roundrobin" })[0]).toMatch(
      /^geoswarm\.lb\.balanec="roundrobin": unknown label \(expected one of geoswarm\.lb\.port, /,
    );
    // several problems are all reported
    expect(problems({ port: "1", balance: "x", weight: "y" })).toHaveLength(3);
  });
});

describe("[providers.docker]", () => {
  it("fills the defaults; the section absent is off", () => {
    const toml = `[providers.docker]\nendpoint = "tcp://10.0.0.5:2376"\ntls_enabled = true\ntls_cert_path = "/c.pem"\ntls_key_path = "/k.pem"\nport_range = "20000-20999"\n`;
    const { config } = validateConfig(parseConfigText(toml, "toml", { envSubst: false }));
    expect(config.providers.docker).toEqual({
      endpoint: "tcp://10.0.0.5:2376",
      tls_enabled: true,
      tls_cert_path: "/c.pem",
      tls_key_path: "/k.pem",
      label_prefix: "geoswarm.lb.",
      listen_host: "0.0.0.0",
      port_range: "20000-20999",
      drain_grace: "30s",
      resync_interval: "1m",
      container_filter: "",
    });
    const ranged = validateDockerProvider({
      endpoint: "tcp://10.0.0.5:2376",
      port_range: "20000-20999",
      backend_port_range: " 32768 - 60999 ",
    });
    expect(ranged.provider.backend_port_range).toBe("32768-60999");
    const off = validateConfig(parseConfigText("", "toml", { envSubst: false }));
    expect(off.config.providers).toEqual({});
  });

  it("refuses bad keys with the key path, the value and what is expected", () => {
    const bad = () =>
      validateDockerProvider({
        endpoint: "ftp://x",
        port_range: "20999-20000",
        drain_grace: "soon",
        resync_interval: "0",
        label_prefix: "geoswarm lb",
        tls_cert_path: "/c.pem",
        backend_port_range: "32768-70000",
      });
    expect(bad).toThrow(ConfigError);
    try {
      bad();
    } catch (err) {
      expect((err as ConfigError).problems).toEqual([
        'providers.docker.endpoint: expected "unix:///path/to/docker.sock", "tcp://host[:port]", "http://host[:port]" or "https://host[:port]", got "ftp://x"',
        "providers.docker.tls_key_path: required (tls_cert_path and tls_key_path go together)",
        'providers.docker.label_prefix: expected a label key prefix ending in ".", "-" or "/", such as "geoswarm.lb.", got "geoswarm lb"',
        'providers.docker.port_range: expected "first-last" with ports 1-65535 and first <= last, such as "20000-20999", got "20999-20000"',
        'providers.docker.drain_grace: expected a Go duration such as "500ms", "10s", "1h30m" or "0", got "soon"',
        'providers.docker.resync_interval: expected a duration > 0 such as "1m", got "0"',
        'providers.docker.backend_port_range: expected "first-last" with ports 1-65535 and first <= last, such as "20000-20999", got "32768-70000"',
      ]);
    }
    expect(() => validateDockerProvider({ endpoint: "unix:///run/docker.sock" })).toThrow(
      /providers\.docker\.port_range: required/,
    );
  });

  it("loading refuses TLS files that are not readable, naming the key", async () => {
    const path = join(tmpdir(), `providers-${process.pid}.toml`);
    writeFileSync(
      path,
      `[providers.docker]\nendpoint = "tcp://10.0.0.5:2376"\ntls_enabled = true\ntls_cacert_path = "/nonexistent/ca.pem"\nport_range = "20000-20999"\n`,
    );
    await expect(
      loadConfig({ kind: "file", path, format: "toml" }, { envSubst: false }),
    ).rejects.toMatchObject({
      problems: [
        'providers.docker.tls_cacert_path: expected a readable file, got "/nonexistent/ca.pem" (ENOENT)',
      ],
    });
  });
});
