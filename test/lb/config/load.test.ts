// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${NAME} is the env substitution syntax under test
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ConfigError,
  loadConfig,
  parseConfigText,
  summarizeConfig,
  validateConfig,
} from "../../../lb/src/config";

const EXAMPLES = join(__dirname, "../../../lb/examples");

const TOML = `
[logging]
level = "debug"

[api]
enabled = true
bind = "127.0.0.1:8888"
  [api.basic_auth]
  login = "admin"
  password = "\${LB_PASSWORD}"

[defaults]
max_connections = 10
backend_connection_timeout = "2s"

[servers.web]
bind = "0.0.0.0:3000"
balance = "leastconn"
  [servers.web.discovery]
  kind = "static"
  static_list = ["10.0.0.1:8000 weight=2", "[::1]:8000 sni=a.example"]
  [servers.web.healthcheck]
  kind = "probe"
  interval = "5s"
  probe_protocol = "tcp"
  probe_send = "PING\\\\r\\\\n"
  probe_recv = "+PONG"
  [servers.web.access]
  default = "deny"
  rules = ["allow 10.0.0.0/8", "allow ::1"]

[servers.dns]
bind = ":5353"
protocol = "udp"
backend_idle_timeout = "1s"
  [servers.dns.udp]
  max_responses = 1
  [servers.dns.discovery]
  kind = "consul"
  consul_host = "127.0.0.1:8500"
  consul_service_name = "dns"
  interval = "10s"
`;

const JSON_TEXT = JSON.stringify({
  logging: { level: "debug" },
  api: {
    enabled: true,
    bind: "127.0.0.1:8888",
    basic_auth: { login: "admin", password: "${LB_PASSWORD}" },
  },
  defaults: { max_connections: 10, backend_connection_timeout: "2s" },
  servers: {
    web: {
      bind: "0.0.0.0:3000",
      balance: "leastconn",
      discovery: {
        kind: "static",
        static_list: ["10.0.0.1:8000 weight=2", "[::1]:8000 sni=a.example"],
      },
      healthcheck: {
        kind: "probe",
        interval: "5s",
        probe_protocol: "tcp",
        probe_send: "PING\\r\\n",
        probe_recv: "+PONG",
      },
      access: { default: "deny", rules: ["allow 10.0.0.0/8", "allow ::1"] },
    },
    dns: {
      bind: ":5353",
      protocol: "udp",
      backend_idle_timeout: "1s",
      udp: { max_responses: 1 },
      discovery: {
        kind: "consul",
        consul_host: "127.0.0.1:8500",
        consul_service_name: "dns",
        interval: "10s",
      },
    },
  },
});

const env = { LB_PASSWORD: "s3cret" };

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("parseConfigText", () => {
  it("TOML and JSON with the same keys give the same LbConfig", () => {
    const fromToml = validateConfig(parseConfigText(TOML, "toml", { envSubst: true, env }));
    const fromJson = validateConfig(parseConfigText(JSON_TEXT, "json", { envSubst: true, env }));
    expect(fromJson).toEqual(fromToml);
    expect(fromToml.warnings).toEqual([
      "servers.web.max_connections: 10 with no client_idle_timeout: idle clients can hold every slot forever; set client_idle_timeout (on the server or in [defaults])",
    ]);
    expect(fromToml.config.api.basic_auth).toEqual({ login: "admin", password: "s3cret" });
    expect(fromToml.config.servers.web.healthcheck.probe_send).toBe("PING\\r\\n");
    expect(fromToml.config.servers.dns.discovery).toMatchObject({
      kind: "consul",
      consul_service_passing_only: false,
      consul_tls_enabled: false,
    });
  });

  it("substitutes ${NAME} only when asked, unset variables become empty, $NAME is left", () => {
    const text = 'a = "${A}-${UNSET}-$A-${A}"';
    expect(parseConfigText(text, "toml", { envSubst: true, env: { A: "x" } })).toEqual({
      a: "x--$A-x",
    });
    expect(parseConfigText(text, "toml", { envSubst: false, env: { A: "x" } })).toEqual({
      a: "${A}-${UNSET}-$A-${A}",
    });
    expect(parseConfigText('{"n": ${N}}', "json", { envSubst: true, env: { N: "5" } })).toEqual({
      n: 5,
    });
  });

  it("reads process.env by default", () => {
    process.env.GEOSWARM_TEST_VAR = "from-env";
    try {
      expect(parseConfigText('a = "${GEOSWARM_TEST_VAR}"', "toml", { envSubst: true })).toEqual({
        a: "from-env",
      });
    } finally {
      delete process.env.GEOSWARM_TEST_VAR;
    }
  });

  it.each<[string, "toml" | "json", string]>([
    ["[servers.web]\nbind = = 1\n", "toml", "TOML syntax error at line 2, column 8: invalid value"],
    [
      "[a]\nx = 1\n[a]\n",
      "toml",
      "TOML syntax error at line 3, column 2: trying to redefine an already defined table or value",
    ],
    [
      '{\n  "a": 1,\n}',
      "json",
      'JSON syntax error at line 3, column 1: expected a property name in double quotes, got "}"',
    ],
    ['{\n  "a": x\n}', "json", 'JSON syntax error at line 2, column 8: unexpected "x"'],
    [
      '{"a": 1',
      "json",
      "JSON syntax error at line 1, column 8: expected ',' or '}' after a property value, got end of input",
    ],
    ["", "json", "JSON syntax error at line 1, column 1: unexpected end of input"],
    [
      '{"a": 1} x',
      "json",
      'JSON syntax error at line 1, column 10: unexpected "x" after the end of the document',
    ],
  ])("syntax error %#", (text, format, message) => {
    const problems = problemsOf(() => parseConfigText(text, format, { envSubst: false }));
    expect(problems).toHaveLength(1);
    expect(problems[0].startsWith(message)).toBe(true);
  });
});

describe("loadConfig", () => {
  let dir: string;
  let http: Server;
  let base: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "geoswarm-config-"));
    http = createServer((req, res) => {
      if (req.url === "/lb.toml") {
        res.writeHead(200, { "content-type": "text/plain" });
        res.end(TOML);
      } else if (req.url === "/lb.json") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON_TEXT);
      } else if (req.url === "/error") {
        res.writeHead(500);
        res.end(TOML);
      } else {
        res.writeHead(404);
        res.end("not found");
      }
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => http.close(resolve));
  });

  it("loads a file and returns its text", async () => {
    const path = join(dir, "lb.toml");
    writeFileSync(path, TOML);
    process.env.LB_PASSWORD = "pw";
    try {
      const r = await loadConfig({ kind: "file", path, format: "toml" }, { envSubst: true });
      expect(r.text).toBe(TOML);
      expect(r.config.api.basic_auth?.password).toBe("pw");
      expect(Object.keys(r.config.servers).sort()).toEqual(["dns", "web"]);
    } finally {
      delete process.env.LB_PASSWORD;
    }
  });

  it("names a missing file", async () => {
    const path = join(dir, "missing.toml");
    await expect(
      loadConfig({ kind: "file", path, format: "toml" }, { envSubst: false }),
    ).rejects.toThrow(`config file ${path}: cannot read (ENOENT`);
  });

  it("loads from a URL (toml and json give the same config)", async () => {
    const t = await loadConfig(
      { kind: "url", url: `${base}/lb.toml`, format: "toml" },
      { envSubst: false },
    );
    const j = await loadConfig(
      { kind: "url", url: `${base}/lb.json`, format: "json" },
      { envSubst: false },
    );
    expect(j.config).toEqual(t.config);
    expect(t.text).toBe(TOML);
  });

  it("rejects a non-2xx response, naming the status (gobetween would parse the body)", async () => {
    const url404 = `${base}/nope.toml`;
    await expect(
      loadConfig({ kind: "url", url: url404, format: "toml" }, { envSubst: false }),
    ).rejects.toThrow(`config URL ${url404}: expected a 2xx response, got HTTP 404 Not Found`);
    const url500 = `${base}/error`;
    await expect(
      loadConfig({ kind: "url", url: url500, format: "toml" }, { envSubst: false }),
    ).rejects.toBeInstanceOf(ConfigError);
  });

  it("names an unreachable URL", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const url = `http://127.0.0.1:${port}/lb.toml`;
    await expect(
      loadConfig({ kind: "url", url, format: "toml" }, { envSubst: false }),
    ).rejects.toThrow(`config URL ${url}: cannot fetch (ECONNREFUSED)`);
  });
});

describe("examples", () => {
  it.each(["basic.toml", "udp.toml"])("lb/examples/%s is valid without warnings", (file) => {
    const text = readFileSync(join(EXAMPLES, file), "utf8");
    const { warnings } = validateConfig(parseConfigText(text, "toml", { envSubst: false }));
    expect(warnings).toEqual([]);
  });

  it("summarizes basic.toml for --check", () => {
    const text = readFileSync(join(EXAMPLES, "basic.toml"), "utf8");
    const { config } = validateConfig(parseConfigText(text, "toml", { envSubst: false }));
    expect(summarizeConfig(config)).toBe(
      [
        "api: 127.0.0.1:8888 (no auth, http)",
        "metrics: disabled",
        "servers: 1",
        // basic.toml balances by weight since the newcomer-path change (issue 16).
        "  web  tcp  127.0.0.1:3000  balance=weight  discovery=static (2 backends)  healthcheck=ping  access=deny + 3 rules",
        "",
      ].join("\n"),
    );
  });

  it("summarizes several servers in aligned columns", () => {
    const { config } = validateConfig(parseConfigText(TOML, "toml", { envSubst: true, env }));
    expect(summarizeConfig(config).split("\n")).toEqual([
      "api: 127.0.0.1:8888 (basic auth, http)",
      "metrics: disabled",
      "servers: 2",
      "  dns  udp  :5353         balance=weight     discovery=consul               healthcheck=none   access=allow all       udp_idle=1s (backend_idle_timeout)",
      "  web  tcp  0.0.0.0:3000  balance=leastconn  discovery=static (2 backends)  healthcheck=probe  access=deny + 2 rules",
      "",
    ]);
  });
});
