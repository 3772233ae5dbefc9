// The state file as an attacker with write access to its folder, or a bad restart, meets it
// (issue 13, items 8-10): the temp file, names read back, and servers that cannot start.
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseConfigText, validateConfig } from "../../../lb/src/config";
import { silentLogger } from "../../../lb/src/log/logger";
import { runLb } from "../../../lb/src/run";
import { StateStore } from "../../../lb/src/state/store";
import { AUTH, call, serverBody } from "../support/api";
import { closedPort, nameServer, request, type TestTcpServer } from "../support/net";

let dir: string;
let backend: TestTcpServer;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "lb-hardening-"));
  backend = await nameServer("b");
});
afterEach(async () => {
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
});

const DEFAULTS = {
  max_connections: 0,
  client_idle_timeout: "0",
  backend_idle_timeout: "0",
  backend_connection_timeout: "0",
};

function staticServer(bind: string): Record<string, unknown> {
  return { bind, discovery: { kind: "static", static_list: [`127.0.0.1:${backend.port}`] } };
}

describe("item 9: the state file's temp file", () => {
  it("never writes through a planted symlink, and creates the temp file 0600 with a random name", async () => {
    const path = join(dir, "servers.json");
    const victim = join(dir, "victim.txt");
    writeFileSync(victim, "precious\n");
    // Every name the old code could pick (its pid), and a few neighbours.
    for (let pid = process.pid - 2; pid <= process.pid + 2; pid++) {
      symlinkSync(victim, join(dir, `.servers.json.tmp-${pid}`));
    }
    const store = new StateStore(path);
    const seen: string[] = [];
    await store.save(new Map([["api1", null]]));
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    const saved = JSON.parse(readFileSync(path, "utf8"));
    expect(saved.servers).toEqual({ api1: null });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    for (const name of readdirSync(dir)) seen.push(name);
    // The planted links are untouched by save (load removes stale temp files, links included).
    expect(seen.filter((n) => n.startsWith(".servers.json.tmp-"))).toHaveLength(5);
    store.load(DEFAULTS);
    expect(readdirSync(dir).filter((n) => n.startsWith(".servers.json.tmp-"))).toEqual([]);
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    expect(lstatSync(victim).isFile()).toBe(true);
  });
});

describe("item 8: names from the state file", () => {
  it.each([["../../etc/x"], ["a\nb"], ["__proto__"], [""]])(
    "sets aside a state file holding the name %j",
    (name) => {
      const path = join(dir, "servers.json");
      writeFileSync(
        path,
        JSON.stringify({ version: 1, servers: { [name]: staticServer("127.0.0.1:0") } }),
      );
      const loaded = new StateStore(path).load(DEFAULTS);
      expect(loaded.overlay.size).toBe(0);
      expect(loaded.setAside).toBeDefined();
      expect(loaded.problems.join("\n")).toContain(JSON.stringify(name));
    },
  );

  it("toString, valueOf, hasOwnProperty as API names leave no tombstone behind", async () => {
    const state = join(dir, "servers.json");
    const { config } = validateConfig(
      parseConfigText(
        `[api]\nenabled = true\nbind = "127.0.0.1:0"\n[api.basic_auth]\nlogin = "${AUTH.login}"\npassword = "${AUTH.password}"\n[state]\npath = "${state}"\n`,
        "toml",
        { envSubst: false },
      ),
    );
    const lb = await runLb(config, silentLogger());
    const base = `http://${lb.apiAddress}`;
    try {
      for (const name of ["toString", "valueOf", "hasOwnProperty"]) {
        const body = serverBody("127.0.0.1:0", [`127.0.0.1:${backend.port}`]);
        expect((await call(base, "POST", `/servers/${name}`, body)).status, name).toBe(200);
        expect((await call(base, "DELETE", `/servers/${name}`)).status, name).toBe(200);
      }
      expect(JSON.parse(readFileSync(state, "utf8")).servers).toEqual({});
      expect((await call(base, "GET", "/servers")).json).toEqual({});
    } finally {
      await lb.stop(0);
    }
  });
});

describe("item 10: a state-file server that collides at start", () => {
  it("starts everything else and reports the server as failed, keeping its data", async () => {
    const apiPort = await closedPort();
    const filePort = await closedPort();
    const state = join(dir, "servers.json");
    writeFileSync(
      state,
      JSON.stringify({
        version: 1,
        servers: {
          on_api: staticServer(`127.0.0.1:${apiPort}`),
          on_file: staticServer(`127.0.0.1:${filePort}`),
          fine: staticServer("127.0.0.1:0"),
        },
      }),
    );
    const toml = `[api]\nenabled = true\nbind = "127.0.0.1:${apiPort}"\n[api.basic_auth]\nlogin = "${AUTH.login}"\npassword = "${AUTH.password}"\n[state]\npath = "${state}"\n[metrics]\nenabled = true\nbind = "127.0.0.1:0"\n[servers.file]\nbind = "127.0.0.1:${filePort}"\n[servers.file.discovery]\nkind = "static"\nstatic_list = ["127.0.0.1:${backend.port}"]\n`;
    const { config } = validateConfig(parseConfigText(toml, "toml", { envSubst: false }));
    const lb = await runLb(config, silentLogger());
    const base = `http://127.0.0.1:${apiPort}`;
    try {
      expect([...lb.balancer.servers.keys()].sort()).toEqual(["file", "fine"]);
      expect((await request(filePort)).data).toBe("b\n");
      const servers = (await call(base, "GET", "/servers")).json as Record<
        string,
        { failed?: string; bind: string }
      >;
      expect(servers.on_api.failed).toContain("api listener");
      expect(servers.on_file.failed).toContain('server "file"');
      expect(servers.fine.failed).toBeUndefined();
      const metrics = await (await fetch(`http://${lb.metricsAddress}/metrics`)).text();
      expect(metrics).toContain('geoswarm_lb_server_failed{server="on_api"} 1');
      // Its data is kept, and a PUT with a free bind brings it up.
      expect(Object.keys(JSON.parse(readFileSync(state, "utf8")).servers).sort()).toEqual([
        "fine",
        "on_api",
        "on_file",
      ]);
      const put = await call(base, "PUT", "/servers/on_api", staticServer("127.0.0.1:0"));
      expect(put.status).toBe(200);
      expect(lb.balancer.failed.has("on_api")).toBe(false);
      expect(lb.balancer.servers.has("on_api")).toBe(true);
      expect((await call(base, "DELETE", "/servers/on_file")).status).toBe(200);
      expect(JSON.parse(readFileSync(state, "utf8")).servers.on_file).toBeUndefined();
    } finally {
      await lb.stop(0);
    }
    expect(existsSync(state)).toBe(true);
  });
});
