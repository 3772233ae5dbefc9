import { describe, expect, it } from "vitest";
import {
  ConfigError,
  type LbConfig,
  parseConfigText,
  validateConfig,
  validateServer,
} from "../../../lb/src/config";

function validateToml(toml: string): { config: LbConfig; warnings: string[] } {
  return validateConfig(parseConfigText(toml, "toml", { envSubst: false }));
}

function problemsOf(toml: string): string[] {
  try {
    validateToml(toml);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

/** A valid server `web`; `extra` is appended inside [servers.web]. */
function web(extra = "", discovery = 'kind = "static"\nstatic_list = ["127.0.0.1:8000"]'): string {
  return `[servers.web]\nbind = ":3000"\n${extra}\n[servers.web.discovery]\n${discovery}\n`;
}

describe("validateConfig: bad configurations (exact messages)", () => {
  it.each<[string, string, string[]]>([
    [
      "unknown balance",
      '[servers.consul]\nbind = ":3000"\nbalance = "fastest"\n[servers.consul.discovery]\nkind = "static"\nstatic_list = ["a:1"]',
      [
        'servers.consul.balance: expected one of "weight", "roundrobin", "leastconn", "leastbandwidth", "iphash", "iphash1", got "fastest"',
      ],
    ],
    [
      "missing bind",
      '[servers.web]\n[servers.web.discovery]\nkind = "static"\nstatic_list = ["a:1"]',
      ["servers.web.bind: required (host:port)"],
    ],
    [
      "bad duration",
      web('client_idle_timeout = "10 seconds"'),
      [
        'servers.web.client_idle_timeout: expected a Go duration such as "500ms", "10s", "1h30m" or "0", got "10 seconds"',
      ],
    ],
    [
      "negative duration",
      web('backend_idle_timeout = "-1s"'),
      ['servers.web.backend_idle_timeout: expected a non-negative Go duration, got "-1s"'],
    ],
    [
      "duration longer than a Node.js timer",
      web('client_idle_timeout = "1000h"'),
      [
        'servers.web.client_idle_timeout: expected a Go duration of at most "596h31m23.647s" (the longest Node.js timer), got "1000h"',
      ],
    ],
    [
      "bad bind",
      '[servers.web]\nbind = "::1:80"\n[servers.web.discovery]\nkind = "static"\nstatic_list = ["a:1"]',
      [
        'servers.web.bind: expected host:port with a port 0-65535 (IPv6 hosts in brackets such as "[::1]:80", empty host = all addresses), got "::1:80"',
      ],
    ],
    [
      "tls protocol",
      web('protocol = "tls"'),
      [
        'servers.web.protocol: expected one of "tcp", "udp" (TLS termination is not supported by geoswarm-lb; use protocol "tcp" to pass TLS through), got "tls"',
      ],
    ],
    [
      "missing discovery",
      '[servers.web]\nbind = ":3000"',
      ["servers.web.discovery: required (a [servers.web.discovery] table with a kind)"],
    ],
    [
      "lxd discovery",
      web("", 'kind = "lxd"\nlxd_server_address = "unix:///var/lib/lxd/unix.socket"'),
      [
        'servers.web.discovery.kind: expected one of "static", "srv", "docker", "json", "plaintext", "exec", "consul" (lxd discovery is not supported by geoswarm-lb), got "lxd"',
      ],
    ],
    [
      "bad static_list line",
      web("", 'kind = "static"\nstatic_list = ["a:1", "b:2", "c:3 priority=1 weight=2"]'),
      [
        'servers.web.discovery.static_list[2]: expected a backend line "host:port [weight=N] [priority=N] [max_connections=N] [sni=NAME]" (options must appear in the order weight, priority, max_connections, sni), got "c:3 priority=1 weight=2"',
      ],
    ],
    [
      "empty static_list",
      web("", 'kind = "static"\nstatic_list = []'),
      [
        'servers.web.discovery.static_list: expected a non-empty list of backend lines "host:port [weight=N] [priority=N] [max_connections=N] [sni=NAME]", got []',
      ],
    ],
    [
      "bad failpolicy",
      web("", 'kind = "static"\nstatic_list = ["a:1"]\nfailpolicy = "retry"'),
      ['servers.web.discovery.failpolicy: expected one of "keeplast", "setempty", got "retry"'],
    ],
    [
      "srv pattern without trailing dot",
      web(
        "",
        'kind = "srv"\nsrv_lookup_server = "10.0.0.2:53"\nsrv_lookup_pattern = "_web._tcp.service.consul"',
      ),
      [
        'servers.web.discovery.srv_lookup_pattern: expected a fully qualified SRV name ending with ".", got "_web._tcp.service.consul"',
      ],
    ],
    [
      "consul without service name",
      web("", 'kind = "consul"\nconsul_host = "127.0.0.1:8500"'),
      ["servers.web.discovery.consul_service_name: required (the Consul service to balance)"],
    ],
    [
      "docker endpoint scheme",
      web("", 'kind = "docker"\ndocker_endpoint = "ftp://x:1"\ndocker_container_private_port = 80'),
      [
        'servers.web.discovery.docker_endpoint: expected "unix:///path/to/docker.sock", "tcp://host[:port]", "http://host[:port]" or "https://host[:port]", got "ftp://x:1"',
      ],
    ],
    [
      // consul discovery needs the port: the validator and the source share one parser.
      "consul_host URL without a port",
      web(
        "",
        'kind = "consul"\nconsul_host = "http://consul.service"\nconsul_service_name = "web"',
      ),
      [
        'servers.web.discovery.consul_host: expected a Consul HTTP address host:port or http(s)://host:port such as "127.0.0.1:8500", got "http://consul.service"',
      ],
    ],
    [
      "exec discovery command not a list",
      web("", 'kind = "exec"\nexec_command = "/bin/discover"'),
      [
        'servers.web.discovery.exec_command: expected a non-empty list of strings (program and arguments, no shell), got "/bin/discover"',
      ],
    ],
    [
      "plaintext regex without port group",
      web(
        "",
        'kind = "plaintext"\nplaintext_endpoint = "http://x/list"\nplaintext_regex_pattern = "(?P<host>\\\\S+)"',
      ),
      [
        'servers.web.discovery.plaintext_regex_pattern: expected a regular expression with named groups host and port (missing named group (?P<port>…)), got "(?P<host>\\\\S+)"',
      ],
    ],
    [
      "healthcheck without kind",
      web('[servers.web.healthcheck]\ninterval = "2s"'),
      ['servers.web.healthcheck.kind: required (one of "none", "ping", "probe", "exec")'],
    ],
    [
      "healthcheck interval 0",
      web('[servers.web.healthcheck]\nkind = "ping"\ninterval = "0s"'),
      [
        'servers.web.healthcheck.interval: expected a duration > 0 such as "5s" for healthcheck kind "ping", got "0s"',
      ],
    ],
    [
      "ping on udp",
      '[servers.dns]\nbind = ":53"\nprotocol = "udp"\nclient_idle_timeout = "5s"\n[servers.dns.discovery]\nkind = "static"\nstatic_list = ["a:1"]\n[servers.dns.healthcheck]\nkind = "ping"\ninterval = "1s"',
      [
        'servers.dns.healthcheck.kind: expected "probe", "exec" or "none" for a udp server (ping is a TCP connect), got "ping"',
      ],
    ],
    [
      "probe_send with a bad escape",
      web(
        '[servers.web.healthcheck]\nkind = "probe"\ninterval = "2s"\nprobe_protocol = "tcp"\nprobe_send = \'PING\\q\'\nprobe_recv = "PONG"',
      ),
      [
        'servers.web.healthcheck.probe_send: expected a string with valid Go escapes (invalid Go string escape at offset 4 ("\\\\q"): unknown escape sequence \\q), got "PING\\\\q"',
      ],
    ],
    [
      "probe_recv_len with starts_with",
      web(
        '[servers.web.healthcheck]\nkind = "probe"\ninterval = "2s"\nprobe_protocol = "tcp"\nprobe_send = "PING"\nprobe_recv = "PONG"\nprobe_recv_len = 4',
      ),
      [
        'servers.web.healthcheck.probe_recv_len: expected 0 or absent with probe_strategy "starts_with" (the length of probe_recv is used), got 4',
      ],
    ],
    [
      "regexp probe without probe_recv_len",
      web(
        '[servers.web.healthcheck]\nkind = "probe"\ninterval = "2s"\nprobe_protocol = "tcp"\nprobe_strategy = "regexp"\nprobe_send = "PING"\nprobe_recv = "^PO"',
      ),
      [
        'servers.web.healthcheck.probe_recv_len: required (number of bytes to read, an integer > 0 with probe_strategy "regexp")',
      ],
    ],
    [
      "tls probe",
      web(
        '[servers.web.healthcheck]\nkind = "probe"\ninterval = "2s"\nprobe_protocol = "tls"\nprobe_send = "PING"\nprobe_recv = "PONG"',
      ),
      [
        'servers.web.healthcheck.probe_protocol: expected one of "tcp", "udp" (TLS probes are not supported by geoswarm-lb), got "tls"',
      ],
    ],
    [
      "bad access rule",
      web(
        '[servers.web.access]\ndefault = "deny"\nrules = ["allow 10.0.0.0/8", "permit 10.1.0.0/16", "allow 10.0.0.300"]',
      ),
      [
        'servers.web.access.rules[1]: expected "allow <ip|cidr>" or "deny <ip|cidr>", got "permit 10.1.0.0/16"',
        'servers.web.access.rules[2]: expected "allow <ip|cidr>" or "deny <ip|cidr>", got "allow 10.0.0.300"',
      ],
    ],
    [
      "proxy_protocol version 3",
      web("[servers.web.proxy_protocol]\nversion = 3"),
      ['servers.web.proxy_protocol.version: expected "1" or "2", got 3'],
    ],
    [
      "proxy_protocol on udp",
      '[servers.dns]\nbind = ":53"\nprotocol = "udp"\nclient_idle_timeout = "5s"\n[servers.dns.discovery]\nkind = "static"\nstatic_list = ["a:1"]\n[servers.dns.proxy_protocol]\nversion = "1"',
      ['servers.dns.proxy_protocol: only supported with protocol "tcp", got protocol "udp"'],
    ],
    [
      "tls section",
      web('[servers.web.tls]\ncert_path = "/c.pem"\nkey_path = "/k.pem"'),
      [
        'servers.web.tls: not supported by geoswarm-lb (no TLS termination; use protocol "tcp" to pass TLS through to the backends)',
      ],
    ],
    [
      "sni section",
      web('[servers.web.sni]\nread_timeout = "2s"'),
      ["servers.web.sni: not supported by geoswarm-lb (no SNI-based routing)"],
    ],
    [
      "wrong types",
      web('max_connections = "10"\nbackend_connection_retries = 11'),
      [
        'servers.web.max_connections: expected an integer >= 0, got "10"',
        "servers.web.backend_connection_retries: expected an integer 0-10, got 11",
      ],
    ],
    [
      "bind conflict",
      `${web()}[servers.other]\nbind = "0.0.0.0:3000"\n[servers.other.discovery]\nkind = "static"\nstatic_list = ["a:1"]\n`,
      [
        'servers.other.bind: expected an address not used by servers.web (tcp ":3000"), got "0.0.0.0:3000"',
      ],
    ],
    [
      "api on a public address without auth",
      `[api]\nenabled = true\nbind = ":8888"\n${web()}`,
      [
        'api.bind: expected a loopback address when [api.basic_auth] is not set (or set api.allow_unauthenticated = true), got ":8888"',
      ],
    ],
    [
      "logging level",
      '[logging]\nlevel = "verbose"',
      [
        'logging.level: expected one of "trace", "debug", "info", "warn", "error", "fatal" (or "warning", "panic"), got "verbose"',
      ],
    ],
    ["section that is not a table", 'api = "on"', ['api: expected a table (object), got "on"']],
  ])("%s", (_, toml, problems) => {
    expect(problemsOf(toml)).toEqual(problems);
  });

  it("collects every problem of every server", () => {
    const problems = problemsOf(
      '[servers.a]\nbalance = "x"\n[servers.a.discovery]\nkind = "static"\nstatic_list = ["a:1"]\n' +
        '[servers.b]\nbind = ":1"\n[servers.b.discovery]\nkind = "nope"\n',
    );
    expect(problems).toEqual([
      "servers.a.bind: required (host:port)",
      'servers.a.balance: expected one of "weight", "roundrobin", "leastconn", "leastbandwidth", "iphash", "iphash1", got "x"',
      'servers.b.discovery.kind: expected one of "static", "srv", "docker", "json", "plaintext", "exec", "consul", got "nope"',
    ]);
  });

  it("ConfigError carries the problems joined as its message", () => {
    try {
      validateToml('[servers.web]\nbind = ":1"');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toBe((err as ConfigError).problems.join("\n"));
    }
  });

  it("rejects a root that is not a table", () => {
    expect(() => validateConfig([1])).toThrow("(root): expected a table (object), got [1]");
  });
});

describe("validateConfig: warnings", () => {
  it("warns about unknown keys with their full path and ignores them", () => {
    const { warnings, config } = validateToml(
      `[loging]\nlevel = "debug"\n${web('balanse = "iphash"')}[servers.web.healthcheck]\nkind = "none"\nintervall = "1s"\n`,
    );
    expect(warnings).toEqual([
      "unknown key servers.web.healthcheck.intervall (ignored)",
      "unknown key servers.web.balanse (ignored)",
      "unknown key loging (ignored)",
    ]);
    expect(config.servers.web.balance).toBe("weight");
  });

  it("warns about keys gobetween configs carry but gobetween ignores (§1.18)", () => {
    const { warnings } = validateToml(
      `[defaults]\nprotocol = "tcp"\nbalance = "weight"\n[globals]\nx = 1\n[profiler]\nenabled = true\n` +
        web(
          'transparent = true\n[servers.web.healthcheck]\nkind = "ping"\ninterval = "1s"\nping_timeout_duration = "1s"',
          'kind = "static"\nstatic_list = ["a:1"]\ndocker_cache_ttl = "1m"',
        ),
    );
    expect(warnings).toEqual([
      "unknown key defaults.protocol (ignored; only max_connections and the three timeouts can have defaults; set it on each server)",
      "unknown key defaults.balance (ignored; only max_connections and the three timeouts can have defaults; set it on each server)",
      "unknown key servers.web.discovery.docker_cache_ttl (ignored; not a gobetween key)",
      "unknown key servers.web.healthcheck.ping_timeout_duration (ignored; not a gobetween key; use healthcheck.timeout)",
      "unknown key servers.web.transparent (ignored; gobetween ignores it too; for UDP use [udp] transparent)",
      "unknown key globals (ignored; not a gobetween section)",
      "unknown key profiler (ignored; the Go profiler is not part of geoswarm-lb)",
    ]);
  });

  it("warns about keys of another discovery or healthcheck kind", () => {
    const { warnings, config } = validateToml(
      web(
        '[servers.web.healthcheck]\nkind = "ping"\ninterval = "1s"\nprobe_send = "x"',
        'kind = "static"\nstatic_list = ["a:1"]\nsrv_lookup_server = "1.1.1.1:53"',
      ),
    );
    expect(warnings).toEqual([
      'unknown key servers.web.discovery.srv_lookup_server (ignored; not used by discovery kind "static")',
      'unknown key servers.web.healthcheck.probe_send (ignored; not used by healthcheck kind "ping")',
    ]);
    expect(config.servers.web.discovery).not.toHaveProperty("srv_lookup_server");
    expect(config.servers.web.healthcheck).not.toHaveProperty("probe_send");
  });

  it("reads consul_service_datacenter as consul_datacenter, with a warning", () => {
    const { warnings, config } = validateToml(
      web(
        "",
        'kind = "consul"\nconsul_host = "127.0.0.1:8500"\nconsul_service_name = "web"\nconsul_service_datacenter = "dc2"',
      ),
    );
    expect(config.servers.web.discovery.consul_datacenter).toBe("dc2");
    expect(warnings).toEqual([
      "servers.web.discovery.consul_service_datacenter: read as consul_datacenter (gobetween ignores this spelling from its sample config; rename the key)",
    ]);
  });

  it("warns that udp transparent is not supported, and about a duplicate backend", () => {
    const { warnings } = validateToml(
      '[servers.dns]\nbind = ":53"\nprotocol = "udp"\n[servers.dns.udp]\nmax_responses = 1\ntransparent = true\n' +
        '[servers.dns.discovery]\nkind = "static"\nstatic_list = ["a:1", "a:1 weight=2"]',
    );
    expect(warnings).toEqual([
      "servers.dns.discovery.static_list[1]: backend a:1 is also listed at static_list[0] (the later line wins)",
      "servers.dns.udp.transparent: not supported, ignored (replies are relayed from the balancer's address)",
    ]);
  });
});

describe("validateConfig: defaults", () => {
  const { config, warnings } = validateToml(web());
  const s = config.servers.web;

  it("has no warnings for a minimal config", () => {
    expect(warnings).toEqual([]);
  });

  it.each<[string, unknown, unknown]>([
    ["logging", config.logging, { level: "info", output: "stdout", format: "text" }],
    [
      "api",
      config.api,
      { enabled: false, bind: ":8888", cors: false, allow_unauthenticated: false },
    ],
    ["metrics", config.metrics, { enabled: false, bind: ":9284" }],
    [
      "defaults",
      config.defaults,
      {
        max_connections: 0,
        client_idle_timeout: "0",
        backend_idle_timeout: "0",
        backend_connection_timeout: "0",
      },
    ],
    ["shutdown", config.shutdown, { grace_period: "10s" }],
    ["server.bind", s.bind, ":3000"],
    ["server.protocol", s.protocol, "tcp"],
    ["server.balance", s.balance, "weight"],
    ["server.max_connections", s.max_connections, 0],
    ["server.client_idle_timeout", s.client_idle_timeout, "0"],
    ["server.backend_idle_timeout", s.backend_idle_timeout, "0"],
    ["server.backend_connection_timeout", s.backend_connection_timeout, "0"],
    ["server.backend_connection_retries", s.backend_connection_retries, 2],
    [
      "server.discovery",
      s.discovery,
      {
        kind: "static",
        failpolicy: "keeplast",
        interval: "0",
        timeout: "0",
        static_list: ["127.0.0.1:8000"],
      },
    ],
    [
      "server.healthcheck",
      s.healthcheck,
      { kind: "none", interval: "0", timeout: "0", fails: 1, passes: 1, initial_status: "healthy" },
    ],
    ["server.access", s.access, null],
    ["server.proxy_protocol", s.proxy_protocol, null],
    ["server.udp", s.udp, null],
  ])("%s", (_, actual, expected) => {
    expect(actual).toEqual(expected);
  });

  it("copies [defaults] into servers that do not set the keys", () => {
    const { config } = validateToml(
      `[defaults]\nmax_connections = 100\nclient_idle_timeout = "1m"\nbackend_connection_timeout = "2s"\n${web('client_idle_timeout = "5s"')}`,
    );
    expect(config.servers.web).toMatchObject({
      max_connections: 100,
      client_idle_timeout: "5s",
      backend_idle_timeout: "0",
      backend_connection_timeout: "2s",
    });
  });

  it("accepts durations up to the longest Node.js timer (596h31m23.647s)", () => {
    const { config } = validateToml(
      `[shutdown]\ngrace_period = "596h31m23.647s"\n${web('client_idle_timeout = "596h"')}`,
    );
    expect(config.shutdown.grace_period).toBe("596h31m23.647s");
    expect(config.servers.web.client_idle_timeout).toBe("596h");
    expect(() => validateToml(`[shutdown]\ngrace_period = "596h31m23.648s"\n${web()}`)).toThrow(
      'shutdown.grace_period: expected a Go duration of at most "596h31m23.647s"',
    );
  });

  it("counts [defaults] timeouts for the udp session rule (gobetween bug §1.13 fixed)", () => {
    const { config } = validateToml(
      '[defaults]\nclient_idle_timeout = "30s"\n[servers.dns]\nbind = ":53"\nprotocol = "udp"\n' +
        '[servers.dns.discovery]\nkind = "static"\nstatic_list = ["a:1"]',
    );
    expect(config.servers.dns.udp).toEqual({
      max_requests: 0,
      max_responses: 0,
      transparent: false,
    });
    expect(config.servers.dns.client_idle_timeout).toBe("30s");
  });

  it("fills kind-specific defaults", () => {
    const json = validateToml(web("", 'kind = "json"\njson_endpoint = "http://10.0.0.1/backends"'));
    expect(json.config.servers.web.discovery).toEqual({
      kind: "json",
      failpolicy: "keeplast",
      interval: "0",
      timeout: "0",
      json_endpoint: "http://10.0.0.1/backends",
      json_host_pattern: "host",
      json_port_pattern: "port",
      json_weight_pattern: "weight",
      json_priority_pattern: "priority",
      json_sni_pattern: "sni",
      json_max_connections_pattern: "max_connections",
    });
    const srv = validateToml(
      web(
        "",
        'kind = "srv"\nsrv_lookup_server = "10.0.0.2:53"\nsrv_lookup_pattern = "_web._tcp.service.consul."',
      ),
    );
    expect(srv.config.servers.web.discovery.srv_dns_protocol).toBe("udp");
    const probe = validateToml(
      web(
        '[servers.web.healthcheck]\nkind = "probe"\ninterval = "2s"\nfails = 0\npasses = 3\nprobe_protocol = "tcp"\nprobe_send = "PING\\\\r\\\\n"\nprobe_recv = "+PONG"',
      ),
    );
    expect(probe.config.servers.web.healthcheck).toEqual({
      kind: "probe",
      interval: "2s",
      timeout: "0",
      fails: 1,
      passes: 3,
      initial_status: "healthy",
      probe_protocol: "tcp",
      probe_strategy: "starts_with",
      probe_send: "PING\\r\\n",
      probe_recv: "+PONG",
      probe_recv_len: 0,
    });
  });

  it("accepts proxy_protocol version as a number, and aliases for the log level", () => {
    const { config } = validateToml(
      `[logging]\nlevel = "WARNING"\n${web("[servers.web.proxy_protocol]\nversion = 2")}`,
    );
    expect(config.servers.web.proxy_protocol).toEqual({ version: "2" });
    expect(config.logging.level).toBe("warn");
  });

  it("treats JSON null and empty strings as not set (as the REST API returns them)", () => {
    const { config } = validateConfig({
      servers: {
        web: {
          bind: ":3000",
          protocol: "",
          balance: null,
          sni: null,
          tls: null,
          backends_tls: null,
          udp: null,
          access: null,
          proxy_protocol: null,
          discovery: { kind: "static", static_list: ["a:1"], failpolicy: "", interval: null },
          healthcheck: { kind: "ping", interval: "1s", initial_status: null },
        },
      },
    });
    expect(config.servers.web).toMatchObject({
      protocol: "tcp",
      balance: "weight",
      access: null,
      udp: null,
    });
    expect(config.servers.web.discovery.failpolicy).toBe("keeplast");
    expect(config.servers.web.healthcheck.initial_status).toBe("healthy");
  });
});

describe("validateServer", () => {
  const defaults = {
    max_connections: 5,
    client_idle_timeout: "1m",
    backend_idle_timeout: "0",
    backend_connection_timeout: "0",
  };

  it("uses pathPrefix '' for REST API bodies", () => {
    expect(() =>
      validateServer("web", { bind: ":1", discovery: { kind: "x" } }, defaults, { pathPrefix: "" }),
    ).toThrow(
      'discovery.kind: expected one of "static", "srv", "docker", "json", "plaintext", "exec", "consul", got "x"',
    );
  });

  it("defaults the path to servers.<name> and fills connection options from the given defaults", () => {
    expect(() =>
      validateServer("api", { discovery: { kind: "static", static_list: ["a:1"] } }, defaults),
    ).toThrow("servers.api.bind: required (host:port)");
    const { server, warnings } = validateServer(
      "api",
      { bind: "[::1]:8080", discovery: { kind: "static", static_list: ["a:1"] }, extra: 1 },
      defaults,
      { pathPrefix: "" },
    );
    expect(server.max_connections).toBe(5);
    expect(server.client_idle_timeout).toBe("1m");
    expect(warnings).toEqual(["unknown key extra (ignored)"]);
  });
});
