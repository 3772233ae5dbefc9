// The LbServer provider as the Pulumi engine runs it, against a REAL geoswarm-lb process (the
// built artifact, API with basic auth) and real backends.
//
// What is real: the provider is compiled with tsc and loaded through createRequire (so closure
// serialization sees real CommonJS modules, as under `pulumi up`; pulumi-notes §2.4), serialized
// with pulumi.runtime.serializeFunction exactly as dynamic.Resource does, and every method runs in
// a fresh `node` process that loads the text the way the dynamic-provider host does
// (require-from-string + handler(); support/provider-host.cjs).
// What cannot be real: no Pulumi engine or CLI exists here, so the test plays the engine's part
// per its documented contract (§2.1): which method runs when, `__provider` in inputs and state,
// delete-before-replace ordering, an empty id from read dropping the resource.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as https from "node:https";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUTH, AUTH_HEADER, call } from "../lb/support/api";
import { type LbProcess, startLbProcess } from "../lb/support/lb-process";
import { closedPort, nameServer, request, sleep, type TestTcpServer } from "../lb/support/net";
import { type GobetweenProxy, gobetweenProxy } from "./support/gobetween-proxy";

const ROOT = path.resolve(__dirname, "../..");
// Inside the package, so the compiled module finds the geoswarm root (and lb/dist/config.cjs);
// under a `dist` directory, which biome skips.
const OUT = path.join(ROOT, "test/artifacts/lb-server-provider/dist");
const HOST = path.join(__dirname, "support/provider-host.cjs");

let dir: string;
let providerFile: string;
let providerText: string;
let containsSecrets: boolean;
let schemaModule: string;
let requireFromString: string;
let lb: LbProcess;
let base: string;
let backends: TestTcpServer[];

// Provider results are JSON read back from a child process; the assertions check their shape.
// biome-ignore lint/suspicious/noExplicitAny: JSON from the provider host
type Props = Record<string, any>;

/** Runs one provider method in a fresh node process, like the engine's provider host. */
// biome-ignore lint/suspicious/noExplicitAny: JSON from the provider host
function run(method: string, args: unknown[], file = providerFile): Promise<any> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HOST, requireFromString, file], { cwd: dir });
    let out = "";
    let err = "";
    child.stdout.on("data", (c) => {
      out += c;
    });
    child.stderr.on("data", (c) => {
      err += c;
    });
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`provider host exited ${code}: ${err}`));
      const r = JSON.parse(out) as { ok: boolean; result?: unknown; error?: string };
      r.ok ? resolve(r.result) : reject(new Error(r.error));
    });
    child.stdin.end(JSON.stringify({ method, args }));
  });
}

const withProvider = (p: Props): Props => ({ ...p, __provider: providerText });
const api = (url = base, password = AUTH.password) => ({ url, username: AUTH.login, password });
function inputs(
  name: string,
  port: number,
  extra: Props = {},
  url = base,
  balancerId?: string,
): Props {
  return withProvider({
    serverName: name,
    ...(balancerId ? { balancerId } : {}),
    api: api(url),
    server: {
      bind: `127.0.0.1:${port}`,
      balance: "roundrobin",
      discovery: { kind: "static", static_list: [`127.0.0.1:${backends[0].port}`] },
      ...extra,
    },
  });
}

/** The engine's create: check, then create; state = outputs + __provider. */
async function create(news: Props): Promise<{ id: string; state: Props }> {
  const checked = await run("check", [{}, news]);
  expect(checked.failures).toEqual([]);
  const r = await run("create", [checked.inputs]);
  return { id: r.id, state: withProvider(r.outs) };
}

async function served(port: number): Promise<string> {
  const { data, error } = await request(port, undefined, { timeoutMs: 2000 });
  return error ? `error: ${error}` : data;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "lb-server-provider-"));
  rmSync(OUT, { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [
      path.join(ROOT, "node_modules/typescript/bin/tsc"),
      ...["--outDir", OUT, "--rootDir", ROOT, "--module", "commonjs", "--target", "ES2022"],
      ...["--moduleResolution", "node", "--strict", "--skipLibCheck", "--types", "node"],
      path.join(ROOT, "components/lb-server-provider.ts"),
    ],
    { stdio: "inherit" },
  );
  const req = createRequire(__filename);
  const compiled = req(path.join(OUT, "components/lb-server-provider.js"));
  const provider = compiled.lbServerProvider;
  schemaModule = compiled.SCHEMA_MODULE;
  const sf = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
  providerText = sf.text;
  containsSecrets = sf.containsSecrets;
  providerFile = path.join(dir, "provider.js");
  writeFileSync(providerFile, providerText);
  requireFromString = createRequire(req.resolve("@pulumi/pulumi")).resolve("require-from-string");

  backends = [await nameServer("b1"), await nameServer("b2")];
  const apiPort = await closedPort();
  const config = path.join(dir, "lb.toml");
  writeFileSync(
    config,
    `[api]\nenabled = true\nbind = "127.0.0.1:${apiPort}"\n[api.basic_auth]\nlogin = "${AUTH.login}"\npassword = "${AUTH.password}"\n`,
  );
  lb = await startLbProcess(["-c", config]);
  base = `http://127.0.0.1:${apiPort}`;
}, 120_000);

afterAll(async () => {
  lb?.kill();
  for (const b of backends ?? []) await b.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("serialized LbServer provider", () => {
  it("captures no module and no credentials: only globals, in-method require and the schema path", () => {
    expect(containsSecrets).toBe(false);
    expect(providerText).not.toContain(AUTH.password);
    expect(providerText.match(/\brequire\([^)]*\)/g)?.sort()).toEqual([
      'require("node:http")',
      'require("node:https")',
      "require(SCHEMA_MODULE)",
    ]);
    expect(providerText).toContain(JSON.stringify(schemaModule));
    expect(providerText).not.toMatch(/__vite_ssr|@pulumi\/pulumi/);
  });

  it("check runs the balancer's schema in a fresh process; a missing bundle is a clear failure", async () => {
    const bad = inputs("bad", 1, { balance: "random", discovery: { kind: "docker" } });
    const { failures } = await run("check", [{}, bad]);
    expect(failures.map((f: Props) => f.property).sort()).toEqual([
      "server.balance",
      "server.discovery.docker_container_private_port",
      "server.discovery.docker_endpoint",
    ]);
    const moved = path.join(dir, "moved-provider.js");
    writeFileSync(moved, providerText.replace(JSON.stringify(schemaModule), '"/nonexistent.cjs"'));
    const r = await run("check", [{}, inputs("ok", 1)], moved);
    expect(r.failures).toHaveLength(1);
    expect(r.failures[0].property).toBe("server");
    expect(r.failures[0].reason).toContain("cannot load the geoswarm-lb config schema");
    expect(r.failures[0].reason).toContain("/nonexistent.cjs");
    expect(r.failures[0].reason).toContain("npm run build:lb");
  });

  it("create, read, update (PUT) and delete (idempotent) a server that really serves", async () => {
    const port = await closedPort();
    const news = inputs("web", port);
    const { id, state } = await create(news);
    expect(id).toBe("web");
    expect(state.bind).toBe(`127.0.0.1:${port}`);
    expect(state.effective).toMatchObject({ bind: `127.0.0.1:${port}`, balance: "roundrobin" });
    expect(state.effective).toEqual((await call(base, "GET", "/servers/web")).json);
    expect(await served(port)).toBe("b1\n");

    const read = await run("read", [id, state]);
    expect(read).toEqual({ id, props: { ...state, __provider: undefined } });
    expect(await run("diff", [id, withProvider(read.props), news])).toEqual({ changes: false });

    const changed = inputs("web", port, {
      balance: "leastconn",
      discovery: { kind: "static", static_list: [`127.0.0.1:${backends[1].port}`] },
    });
    expect(await run("diff", [id, state, changed])).toEqual({ changes: true });
    const updated = await run("update", [id, state, changed]);
    expect(updated.outs.effective.balance).toBe("leastconn");
    expect((await call(base, "GET", "/servers/web")).json).toMatchObject({ balance: "leastconn" });
    expect(await served(port)).toBe("b2\n");

    await run("delete", [id, withProvider(updated.outs)]);
    // geoswarm-lb answers as gobetween does: 200 null.
    const gone = await call(base, "GET", "/servers/web");
    expect([gone.status, gone.text]).toEqual([200, "null\n"]);
    expect(await served(port)).toMatch(/^error: .*ECONNREFUSED/);
    await run("delete", [id, withProvider(updated.outs)]); // already gone: still fine
  });

  it("moves a server to a new bind in place with PUT (no delete, no replace)", async () => {
    const [p1, p2] = [await closedPort(), await closedPort()];
    const { id, state } = await create(inputs("moving", p1));
    const news = inputs("moving", p2);
    expect(await run("diff", [id, state, news])).toEqual({ changes: true });
    const moved = await run("update", [id, state, news]);
    expect(moved.outs.bind).toBe(`127.0.0.1:${p2}`);
    expect((await call(base, "GET", "/servers/moving")).json).toMatchObject({
      bind: `127.0.0.1:${p2}`,
    });
    expect(await served(p2)).toBe("b1\n");
    expect(await served(p1)).toMatch(/^error: .*ECONNREFUSED/);
    await run("delete", [id, withProvider(moved.outs)]);
  });

  it("replaces on a new balancerId, deleting first: creating first would find the name taken", async () => {
    const port = await closedPort();
    const { id, state } = await create(inputs("pinned-id", port, {}, base, "i-0old"));
    const news = inputs("pinned-id", port, {}, base, "i-0new");
    expect(await run("diff", [id, state, news])).toEqual({
      changes: true,
      replaces: ["balancerId"],
      deleteBeforeReplace: true,
    });
    await expect(run("create", [news])).rejects.toThrow(
      /creating server "pinned-id" at .*: the name "pinned-id" is taken on the balancer .*: name: server "pinned-id" already exists/,
    );
    await run("delete", [id, state]);
    const replaced = await run("create", [news]);
    expect(replaced.outs.balancerId).toBe("i-0new");
    expect(await served(port)).toBe("b1\n");
    await run("delete", [id, withProvider(replaced.outs)]);
  });

  it("fails a create whose bind is taken, saying so", async () => {
    const port = await closedPort();
    const first = await create(inputs("first", port));
    await expect(run("create", [inputs("second", port)])).rejects.toThrow(
      /creating server "second" at .*: the bind address is taken: bind: tcp 127\.0\.0\.1:\d+ is already used by server "first"/,
    );
    await run("delete", [first.id, first.state]);
  });

  it("refresh shows drift made behind Pulumi's back, and update puts the config back", async () => {
    const port = await closedPort();
    const news = inputs("drifty", port);
    const { id, state } = await create(news);
    const body = { ...(news.server as Props), balance: "iphash" };
    expect((await call(base, "PUT", "/servers/drifty", body)).status).toBe(200);
    const read = await run("read", [id, state]);
    expect(read.props.effective.balance).toBe("iphash");
    const refreshed = withProvider(read.props);
    expect(await run("diff", [id, refreshed, news])).toEqual({ changes: true });
    const fixed = await run("update", [id, refreshed, news]);
    expect(fixed.outs.effective.balance).toBe("roundrobin");
    expect((await call(base, "GET", "/servers/drifty")).json).toMatchObject({
      balance: "roundrobin",
    });
    await run("delete", [id, withProvider(fixed.outs)]);
  });

  it("a server deleted behind Pulumi's back reads as gone, and the next create brings it back", async () => {
    const port = await closedPort();
    const news = inputs("vanishing", port);
    const { id, state } = await create(news);
    expect((await call(base, "DELETE", "/servers/vanishing")).status).toBe(200);
    expect(await run("read", [id, state])).toEqual({ id: "", props: {} });
    const again = await create(news);
    expect(await served(port)).toBe("b1\n");
    await run("delete", [again.id, again.state]);
  });

  it("tells a missing server (200 null) from an error: read of a gone server drops it, a 401 throws", async () => {
    const port = await closedPort();
    const { id, state } = await create(inputs("missing", port));
    await call(base, "DELETE", "/servers/missing");
    expect(await run("read", [id, state])).toEqual({ id: "", props: {} });
    const denied = { ...state, api: api(base, "wrong-secret-value") };
    const err = await run("read", [id, denied]).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/401/);
  });

  it("rejects wrong credentials with a message that names the login, never the password", async () => {
    const news = { ...inputs("denied", 1), api: api(base, "wrong-secret-value") };
    const err = await run("create", [news]).catch((e: Error) => e);
    expect(err.message).toMatch(/401 unauthorized: the balancer rejected api.username "admin"/);
    expect(err.message).not.toContain("wrong-secret-value");
  });

  describe("against a plain gobetween (EMULATED: no PUT, 200 null for unknown servers)", () => {
    let proxy: GobetweenProxy;
    beforeAll(async () => {
      proxy = await gobetweenProxy(base);
    });
    afterAll(async () => proxy.close());

    it("update falls back to delete and create", async () => {
      const port = await closedPort();
      const { id, state } = await create(inputs("legacy", port, {}, proxy.url));
      const changed = inputs("legacy", port, { balance: "leastconn" }, proxy.url);
      proxy.calls.length = 0;
      const updated = await run("update", [id, state, changed]);
      expect(proxy.calls).toEqual([
        "PUT /servers/legacy -> 404",
        "DELETE /servers/legacy -> 200",
        "POST /servers/legacy -> 200",
        "GET /servers/legacy -> 200",
      ]);
      expect(updated.outs.effective.balance).toBe("leastconn");
      expect((await call(base, "GET", "/servers/legacy")).json).toMatchObject({
        balance: "leastconn",
      });
      expect(await served(port)).toBe("b1\n");

      // A failure between delete and create puts the old config back and says so.
      proxy.failNextPost = true;
      const err = await run("update", [id, withProvider(updated.outs), state]).catch(
        (e: Error) => e,
      );
      expect(err.message).toMatch(
        /by delete and create \(the API has no PUT\): creating server "legacy" .*: 500 injected failure; the old config was restored/,
      );
      expect((await call(base, "GET", "/servers/legacy")).json).toMatchObject({
        balance: "leastconn",
      });

      // gobetween's `200 null`: read of a deleted server is gone, delete is idempotent.
      await run("delete", [id, withProvider(updated.outs)]);
      expect(await run("read", [id, withProvider(updated.outs)])).toEqual({ id: "", props: {} });
      proxy.calls.length = 0;
      await run("delete", [id, withProvider(updated.outs)]);
      expect(proxy.calls).toEqual(["DELETE /servers/legacy -> 200"]);
    });

    it("a new bind falls back to delete and create too", async () => {
      const [p1, p2] = [await closedPort(), await closedPort()];
      const { id, state } = await create(inputs("legacy-move", p1, {}, proxy.url));
      const news = inputs("legacy-move", p2, {}, proxy.url);
      expect(await run("diff", [id, state, news])).toEqual({ changes: true });
      proxy.calls.length = 0;
      const moved = await run("update", [id, state, news]);
      expect(proxy.calls).toEqual([
        "PUT /servers/legacy-move -> 404",
        "DELETE /servers/legacy-move -> 200",
        "POST /servers/legacy-move -> 200",
        "GET /servers/legacy-move -> 200",
      ]);
      expect(moved.outs.bind).toBe(`127.0.0.1:${p2}`);
      expect(await served(p2)).toBe("b1\n");
      expect(await served(p1)).toMatch(/^error: .*ECONNREFUSED/);
      await run("delete", [id, withProvider(moved.outs)]);
    });
  });
});

/** An API-only balancer config on 127.0.0.1:<port>; `tls` is appended to [api]. */
function apiConfig(file: string, port: number, tls = ""): string {
  writeFileSync(
    file,
    `[api]\nenabled = true\nbind = "127.0.0.1:${port}"\n[api.basic_auth]\nlogin = "${AUTH.login}"\npassword = "${AUTH.password}"\n${tls}`,
  );
  return file;
}

describe("a balancer that is still starting", () => {
  it("create waits for an API that starts listening late (refused until then)", async () => {
    const apiPort = await closedPort();
    const config = apiConfig(path.join(dir, "late.toml"), apiPort);
    let late: LbProcess | undefined;
    // The service starts 2 s after the create begins, as after a fresh install.
    const starting = sleep(2000).then(async () => {
      late = await startLbProcess(["-c", config]);
    });
    try {
      const port = await closedPort();
      const started = Date.now();
      const { state } = await create(inputs("late", port, {}, `http://127.0.0.1:${apiPort}`));
      expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
      expect(state.bind).toBe(`127.0.0.1:${port}`);
      expect(await served(port)).toBe("b1\n");
    } finally {
      await starting;
      late?.kill();
    }
  }, 60_000);
});

describe("an API served over TLS with a certificate from a private CA (api.caPem pinned)", () => {
  let tlsLb: LbProcess;
  let url: string;
  const pem = (name: string) => readFileSync(path.join(dir, name), "utf8");
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const newCa = (name: string) =>
    openssl(
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
      ...["-days", "1", "-subj", `/CN=${name}`, "-keyout", `${name}.key`, "-out", `${name}.pem`],
      ...["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign"],
    );

  beforeAll(async () => {
    newCa("cluster-ca");
    newCa("other-ca");
    openssl(
      ...["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
      ...["-subj", "/CN=lb-api", "-keyout", "api-key.pem", "-out", "api.csr"],
    );
    writeFileSync(
      path.join(dir, "api.ext"),
      "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    );
    openssl(
      ...["x509", "-req", "-in", "api.csr", "-CA", "cluster-ca.pem", "-CAkey", "cluster-ca.key"],
      ...["-CAcreateserial", "-days", "1", "-extfile", "api.ext", "-out", "api-cert.pem"],
    );
    const apiPort = await closedPort();
    const config = apiConfig(
      path.join(dir, "tls.toml"),
      apiPort,
      `[api.tls]\ncert_path = "${path.join(dir, "api-cert.pem")}"\nkey_path = "${path.join(dir, "api-key.pem")}"\n`,
    );
    tlsLb = await startLbProcess(["-c", config]);
    url = `https://127.0.0.1:${apiPort}`;
  }, 60_000);
  afterAll(() => tlsLb?.kill());

  const pinned = (name: string, port: number, caPem?: string): Props => {
    const i = inputs(name, port, {}, url);
    return { ...i, api: { ...i.api, ...(caPem ? { caPem } : {}) } };
  };

  it("reaches the API with the cluster CA pinned: create, read, update, delete", async () => {
    const port = await closedPort();
    const { id, state } = await create(pinned("secure", port, pem("cluster-ca.pem")));
    expect(state.api.caPem).toBe(pem("cluster-ca.pem"));
    expect(await served(port)).toBe("b1\n");
    const read = await run("read", [id, state]);
    expect(read.props.effective.balance).toBe("roundrobin");
    const news = pinned("secure", port, pem("cluster-ca.pem"));
    news.server.balance = "leastconn";
    const updated = await run("update", [id, state, news]);
    expect(JSON.parse((await tlsCall("GET", "/servers/secure")).body).balance).toBe("leastconn");
    await run("delete", [id, withProvider(updated.outs)]);
    expect(await run("read", [id, state])).toEqual({ id: "", props: {} });
  });

  it("refuses the API's certificate with another CA pinned, or with the system CAs", async () => {
    const port = await closedPort();
    const wrong = await run("create", [pinned("wrong-ca", port, pem("other-ca.pem"))]).catch(
      (e: Error) => e,
    );
    expect(wrong.message).toMatch(
      new RegExp(
        `^POST ${url.replace(/\./g, "\\.")}/servers/wrong-ca: .*: the API's certificate is not signed by api\\.caPem\\)$`,
      ),
    );
    const system = await run("create", [pinned("no-ca", port)]).catch((e: Error) => e);
    expect(system.message).toMatch(/set api\.caPem to the CA that signed the API's certificate\)$/);
    // Nothing was registered either time.
    expect(JSON.parse((await tlsCall("GET", "/servers")).body)).toEqual({});
  });

  /** A request trusting the cluster CA, from the test itself. */
  function tlsCall(method: string, p: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        `${url}${p}`,
        { method, ca: pem("cluster-ca.pem"), headers: { authorization: AUTH_HEADER } },
        (res) => {
          let body = "";
          res.on("data", (c) => {
            body += c;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on("error", reject);
      req.end();
    });
  }
});
