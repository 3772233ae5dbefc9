// The dynamic provider behind LbServer: registers one balancer server through geoswarm-lb's (or
// gobetween's) REST API.
//
// Serialization rules (docs: /work/shared/reference/pulumi-notes.md §2.4): the engine stores this
// object as JavaScript text in every LbServer's state and runs it in its own Node process. So it
// captures NO module imports: only globals (URL, Buffer, setTimeout), `require()` inside
// functions, the helper functions below, one string, SCHEMA_MODULE, and plain constants.
// Credentials and the API's CA come from the resource's inputs/state on every call, never from the
// closure. HTTP goes through node:http/node:https (required inside the call), not the global fetch:
// fetch cannot pin a CA (api.caPem) and hides which stage of a connection failed.
//
// Validation uses the balancer's own schema (lb/src/config), bundled by `npm run build:lb` into
// lb/dist/config.cjs. SCHEMA_MODULE is that file's absolute path, resolved here, in the program's
// process, next to the component code that registers the resource: the same package version as
// the balancer artifact the Balancer component ships. Only check and diff load it, and those always
// run the provider text of the *current* program (the host deserializes `news.__provider`), so a
// path baked into older state (another machine, an old checkout) is never used; read, create,
// update and delete do not need it.
import * as path from "node:path";
import type { ConnectionOptions, ServerConfig } from "../lb/src/config/types";
import { packageRoot } from "./artifact";
// Types only: erased at compile time, so nothing from it is captured.
import type { ApiState, LbServerState, SchemaModule } from "./lb-server-types";

export type { ApiState, LbServerState } from "./lb-server-types";

// Not `export const`: tsc's CommonJS output would turn every use into `exports.NAME`, and the
// closure serializer would then capture this module's whole exports object. Exported below.
/** Absolute path of the bundled balancer config schema (lb/dist/config.cjs). */
const SCHEMA_MODULE = path.join(packageRoot(), "lb", "dist", "config.cjs");

/** What Pulumi passes for a value that is not known yet (preview). */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export { SCHEMA_MODULE, UNKNOWN };

/** Connection options the balancer copies from its own [defaults] when a server leaves them out. */
const CONNECTION_KEYS = [
  "max_connections",
  "client_idle_timeout",
  "backend_idle_timeout",
  "backend_connection_timeout",
];

/** The API's rule for server names (lb/src/api/routes/servers.ts). */
const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function loadSchema(): SchemaModule {
  try {
    return require(SCHEMA_MODULE) as SchemaModule;
  } catch (err) {
    throw new Error(
      `cannot load the geoswarm-lb config schema from ${SCHEMA_MODULE} (${(err as Error).message.split("\n")[0]}): run \`npm run build:lb\` in the geoswarm package`,
    );
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Paths ("a.b[0]") of every unknown value inside `v`. */
function unknownPaths(v: unknown, at = ""): string[] {
  if (v === UNKNOWN) return [at];
  const join = (k: string | number) =>
    typeof k === "number" ? `${at}[${k}]` : at ? `${at}.${k}` : k;
  if (Array.isArray(v)) return v.flatMap((x, i) => unknownPaths(x, join(i)));
  if (isObject(v)) return Object.entries(v).flatMap(([k, x]) => unknownPaths(x, join(k)));
  return [];
}

/** Key-order-independent JSON, for comparing configs. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (isObject(v)) {
    const keys = Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/**
 * Problems of `raw` per the balancer's schema, as check failures (`server.<path>`). Problems
 * about values that are still unknown are left out; they are checked again once known.
 */
export function serverFailures(
  schema: SchemaModule,
  name: string,
  raw: unknown,
): { property: string; reason: string }[] {
  if (raw === UNKNOWN) return [];
  const unknown = unknownPaths(raw);
  const under = (p: string) =>
    unknown.some((u) => p === u || p.startsWith(`${u}.`) || p.startsWith(`${u}[`));
  try {
    schema.validateServer(name, raw, zeroDefaults(), { pathPrefix: "" });
    return [];
  } catch (err) {
    const problems = (err as { problems?: unknown }).problems;
    if (!Array.isArray(problems)) throw err;
    return problems
      .map((p: string) => {
        const i = p.indexOf(": ");
        const where = i < 0 || p.startsWith("(server)") ? "" : p.slice(0, i);
        return { where, reason: i < 0 ? p : p.slice(i + 2) };
      })
      .filter((f) => !under(f.where))
      .map((f) => ({ property: f.where ? `server.${f.where}` : "server", reason: f.reason }));
  }
}

function zeroDefaults(): ConnectionOptions {
  return {
    max_connections: 0,
    client_idle_timeout: "0",
    backend_idle_timeout: "0",
    backend_connection_timeout: "0",
  };
}

/**
 * The comparable form of a server: every default filled in by the schema, except the connection
 * options `raw` does not set (those come from the balancer's [defaults], unknown here).
 */
export function normalizeServer(
  schema: SchemaModule,
  name: string,
  raw: Record<string, unknown>,
): Record<string, unknown> {
  const { server } = schema.validateServer(name, raw, zeroDefaults(), { pathPrefix: "" });
  return withoutUnsetDefaults(JSON.parse(JSON.stringify(server)), raw);
}

/** Keys in every server the API returns (null: unsupported), as gobetween emits them. */
const ALWAYS_NULL_KEYS = ["sni", "tls", "backends_tls"];

function withoutUnsetDefaults(
  config: Record<string, unknown>,
  raw: Record<string, unknown>,
): Record<string, unknown> {
  const out = { ...config };
  for (const k of CONNECTION_KEYS) {
    if (raw[k] === undefined || raw[k] === null || raw[k] === "") delete out[k];
  }
  // Sections the balancer always reports as null (gobetween's shape), never set by an input.
  for (const k of ALWAYS_NULL_KEYS) if (out[k] === null) delete out[k];
  return out;
}

/** Structural checks of the inputs that need no schema: name and API. */
function inputFailures(news: Record<string, unknown>): { property: string; reason: string }[] {
  const f: { property: string; reason: string }[] = [];
  const got = (v: unknown) => (v === undefined ? "nothing" : JSON.stringify(v));
  const name = news.serverName;
  if (name !== UNKNOWN && (typeof name !== "string" || !SERVER_NAME.test(name))) {
    f.push({
      property: "serverName",
      reason: `expected 1-128 letters, digits, ".", "_" or "-" starting with a letter or digit, got ${got(name)}`,
    });
  }
  const api = news.api;
  if (api === UNKNOWN) return f;
  if (!isObject(api)) {
    f.push({ property: "api", reason: `expected { url, username, password }, got ${got(api)}` });
    return f;
  }
  if (api.url !== UNKNOWN) {
    let ok = false;
    try {
      const u = new URL(String(api.url));
      ok = typeof api.url === "string" && (u.protocol === "http:" || u.protocol === "https:");
    } catch {}
    if (!ok) {
      f.push({
        property: "api.url",
        reason: `expected an http:// or https:// URL such as "http://203.0.113.10:8888", got ${got(api.url)}`,
      });
    }
  }
  if (api.username !== UNKNOWN && (typeof api.username !== "string" || api.username === "")) {
    f.push({
      property: "api.username",
      reason: `expected a non-empty string, got ${got(api.username)}`,
    });
  }
  if (api.password !== UNKNOWN && typeof api.password !== "string") {
    // Never echo the value: it is a secret.
    f.push({ property: "api.password", reason: `expected a string, got a ${typeof api.password}` });
  }
  if (api.caPem !== undefined && api.caPem !== UNKNOWN) {
    if (typeof api.caPem !== "string" || !api.caPem.includes("-----BEGIN CERTIFICATE-----")) {
      f.push({
        property: "api.caPem",
        reason: `expected a PEM certificate ("-----BEGIN CERTIFICATE-----..."), got ${typeof api.caPem === "string" ? JSON.stringify(api.caPem.slice(0, 40)) : got(api.caPem)}`,
      });
    } else if (typeof api.url === "string" && api.url.startsWith("http://")) {
      f.push({
        property: "api.caPem",
        reason: `a CA only applies to https:// URLs, but api.url is ${JSON.stringify(api.url)}`,
      });
    }
  }
  const id = news.balancerId;
  if (id !== undefined && id !== UNKNOWN && (typeof id !== "string" || id === "")) {
    f.push({
      property: "balancerId",
      reason: `expected the balancer instance's id (a non-empty string), got ${got(id)}`,
    });
  }
  return f;
}

interface ApiResponse {
  status: number;
  json: unknown;
  text: string;
}

/** How long calls wait for an API that does not accept connections yet (a starting balancer). */
export interface ConnectWait {
  /** Give up once this much time has passed since the first attempt. */
  totalMs: number;
  /** One attempt's TCP connect timeout (a host that drops packets, e.g. still booting). */
  connectTimeoutMs: number;
  /** Pause after the first refused attempt; doubled after each one, up to maxDelayMs. */
  firstDelayMs: number;
  maxDelayMs: number;
}

// Not `export const` (see SCHEMA_MODULE). A freshly installed or replaced balancer needs seconds
// to start listening; two minutes also covers a reboot.
const API_WAIT: ConnectWait = {
  totalMs: 120_000,
  connectTimeoutMs: 10_000,
  firstDelayMs: 500,
  maxDelayMs: 10_000,
};
/** An answer must come within this time once connected. */
const ANSWER_TIMEOUT_MS = 30_000;
/** Failures before anything reached the API: retrying cannot apply a change twice. */
const NOT_CONNECTED = ["ECONNREFUSED", "ECONNECTTIMEOUT", "EHOSTUNREACH", "ENETUNREACH"];

export { API_WAIT };

type CodedError = Error & { code?: string };

/** One HTTP(S) request; `caPem`, when set, is the only CA trusted for the API's certificate. */
function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  caPem: string | undefined,
  connectTimeoutMs: number,
): Promise<{ status: number; text: string }> {
  const mod = url.protocol === "https:" ? require("node:https") : require("node:http");
  return new Promise((resolve, reject) => {
    const timers: ReturnType<typeof setTimeout>[] = [];
    const done = () => {
      for (const t of timers) clearTimeout(t);
    };
    const req = mod.request(
      url,
      // No keep-alive agent: an idle pooled socket would outlive the call.
      { method, headers, agent: false, ...(caPem ? { ca: caPem } : {}) },
      (res: import("node:http").IncomingMessage) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => {
          done();
          resolve({ status: res.statusCode ?? 0, text });
        });
        res.on("error", (err: Error) => {
          done();
          reject(err);
        });
      },
    );
    const abort = (code: string, message: string) => {
      const err: CodedError = new Error(message);
      err.code = code;
      req.destroy(err);
    };
    req.on("socket", (socket: import("node:net").Socket) => {
      if (!socket.connecting) return;
      const t = setTimeout(
        () => abort("ECONNECTTIMEOUT", `connect timeout after ${connectTimeoutMs} ms`),
        connectTimeoutMs,
      );
      timers.push(t);
      socket.once("connect", () => clearTimeout(t));
    });
    timers.push(
      setTimeout(
        () => abort("ETIMEDOUT", `no answer within ${ANSWER_TIMEOUT_MS} ms`),
        ANSWER_TIMEOUT_MS,
      ),
    );
    req.on("error", (err: Error) => {
      done();
      reject(err);
    });
    req.end(body);
  });
}

/** Why a request failed, in words an operator can act on. */
function failureText(err: CodedError, url: URL, caPem: string | undefined): string {
  const code = err.code ?? "";
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return `${err.message} (the API's certificate does not name ${url.hostname})`;
  }
  if (/CERT|SIGNATURE|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/.test(code)) {
    return caPem
      ? `${err.message} (${code}: the API's certificate is not signed by api.caPem)`
      : `${err.message} (${code}: set api.caPem to the CA that signed the API's certificate)`;
  }
  return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
}

/**
 * One call to /servers/:name with basic auth. A connection that is refused or times out is retried
 * with backoff for up to `wait.totalMs`. Error messages never contain the password.
 */
export async function serversApi(
  api: ApiState,
  method: string,
  name: string,
  body?: unknown,
  wait: ConnectWait = API_WAIT,
): Promise<ApiResponse> {
  const base = new URL(api.url);
  base.username = "";
  base.password = "";
  const url = new URL(
    `${base.pathname.replace(/\/?$/, "/")}servers/${encodeURIComponent(name)}`,
    base,
  );
  const headers: Record<string, string> = {
    authorization: `Basic ${Buffer.from(`${api.username}:${api.password}`).toString("base64")}`,
  };
  const payload = body === undefined ? undefined : JSON.stringify(body);
  if (payload !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = String(Buffer.byteLength(payload));
  }
  const started = Date.now();
  let delay = wait.firstDelayMs;
  let res: { status: number; text: string };
  for (;;) {
    try {
      res = await send(url, method, headers, payload, api.caPem, wait.connectTimeoutMs);
      break;
    } catch (err) {
      const e = err as CodedError;
      if (!NOT_CONNECTED.includes(e.code ?? "")) {
        throw new Error(`${method} ${url.href}: ${failureText(e, url, api.caPem)}`);
      }
      const waited = Date.now() - started;
      if (waited + delay > wait.totalMs) {
        throw new Error(
          `${method} ${url.href}: the balancer API did not accept a connection within ${(waited / 1000).toFixed(1)} s (last attempt: ${e.message}); check that the balancer service runs and that its API port is reachable from here (security group, ssh.allowedCidr)`,
        );
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, wait.maxDelayMs);
    }
  }
  const text = res.text;
  let json: unknown;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (res.status === 401) {
    throw new Error(
      `${method} ${url.href}: 401 unauthorized: the balancer rejected api.username "${api.username}" and api.password`,
    );
  }
  return { status: res.status, json, text };
}

function errorText(r: ApiResponse): string {
  if (isObject(r.json) && typeof r.json.error === "string") {
    const problems = Array.isArray(r.json.problems) ? `: ${r.json.problems.join("; ")}` : "";
    return `${r.json.error}${problems}`;
  }
  return r.text.trim().slice(0, 200) || "(empty body)";
}

/** POST; a 409 says whether the name or the bind is taken. */
async function createServer(api: ApiState, name: string, server: unknown): Promise<void> {
  const r = await serversApi(api, "POST", name, server);
  if (r.status === 200) return;
  const msg = errorText(r);
  if (r.status === 409) {
    const what = msg.startsWith("name:")
      ? `the name "${name}" is taken on the balancer (import is not supported: delete that server or choose another serverName)`
      : msg.startsWith("bind:")
        ? "the bind address is taken"
        : "conflict";
    throw new Error(`creating server "${name}" at ${api.url}: ${what}: ${msg}`);
  }
  throw new Error(`creating server "${name}" at ${api.url}: ${r.status} ${msg}`);
}

/** GET; undefined when the server does not exist (404, or gobetween's `200 null`). */
async function readServer(api: ApiState, name: string): Promise<ServerConfig | undefined> {
  const r = await serversApi(api, "GET", name);
  if (r.status === 404 || (r.status === 200 && (r.json === null || r.json === undefined))) {
    return undefined;
  }
  if (r.status !== 200 || !isObject(r.json)) {
    throw new Error(`reading server "${name}" at ${api.url}: ${r.status} ${errorText(r)}`);
  }
  return r.json as unknown as ServerConfig;
}

/** DELETE; idempotent: a missing server (404, or gobetween's 200 null) is fine. */
async function deleteServer(api: ApiState, name: string): Promise<void> {
  const r = await serversApi(api, "DELETE", name);
  if (r.status === 200 || r.status === 404) return;
  throw new Error(`deleting server "${name}" at ${api.url}: ${r.status} ${errorText(r)}`);
}

function outputs(s: LbServerState, effective: ServerConfig): LbServerState {
  const api: ApiState = { url: s.api.url, username: s.api.username, password: s.api.password };
  if (s.api.caPem !== undefined) api.caPem = s.api.caPem;
  return {
    serverName: s.serverName,
    api,
    ...(s.balancerId !== undefined ? { balancerId: s.balancerId } : {}),
    server: s.server,
    effective,
    bind: effective.bind,
  };
}

async function createAndRead(s: LbServerState): Promise<LbServerState> {
  await createServer(s.api, s.serverName, s.server);
  const effective = await readServer(s.api, s.serverName);
  if (!effective) throw new Error(`server "${s.serverName}" was created but GET does not find it`);
  return outputs(s, effective);
}

export const lbServerProvider = {
  async check(_olds: Record<string, unknown>, news: Record<string, unknown>) {
    const failures = inputFailures(news);
    if (!isObject(news.server) && news.server !== UNKNOWN) {
      failures.push({
        property: "server",
        reason: `expected a server table (bind, discovery, ...), got ${JSON.stringify(news.server) ?? "nothing"}`,
      });
    } else {
      let schema: SchemaModule | undefined;
      try {
        schema = loadSchema();
      } catch (err) {
        failures.push({ property: "server", reason: (err as Error).message });
      }
      const name = typeof news.serverName === "string" ? news.serverName : "server";
      if (schema) failures.push(...serverFailures(schema, name, news.server));
    }
    return { inputs: news, failures };
  },

  async diff(_id: string, olds: LbServerState, news: LbServerState) {
    // Only what the API cannot change in place replaces: the name and the API (another balancer),
    // and a new balancer instance (it starts empty; the server must be created on it).
    const replaces: string[] = [];
    if (olds.serverName !== news.serverName) replaces.push("serverName");
    // A new URL of the same balancer instance (a new apiPort, http -> https) is an update: the
    // balancer kept the server across its restart ([state]), and the old URL no longer answers,
    // so a delete there would fail. Without balancerId on both sides the URL is the identity.
    const urlChanged = olds.api?.url !== news.api?.url;
    if (urlChanged && (olds.balancerId === undefined || news.balancerId === undefined)) {
      replaces.push("api.url");
    }
    // A state without balancerId (older versions, or a plain gobetween) updates instead: PUT
    // recreates the server if it is missing.
    if (
      olds.balancerId !== undefined &&
      news.balancerId !== undefined &&
      olds.balancerId !== news.balancerId
    ) {
      replaces.push("balancerId");
    }
    let changed =
      olds.api?.username !== news.api?.username ||
      olds.api?.password !== news.api?.password ||
      olds.api?.caPem !== news.api?.caPem ||
      urlChanged ||
      olds.balancerId !== news.balancerId;
    if (unknownPaths(news.server).length > 0) {
      // Preview with values not known yet: an update at least (PUT moves bind and protocol too).
      changed = true;
    } else {
      const schema = loadSchema();
      const want = normalizeServer(schema, news.serverName, news.server);
      // Compare with what the balancer reported (refresh makes drift visible), else the old inputs.
      const have = olds.effective
        ? withoutUnsetDefaults(olds.effective as unknown as Record<string, unknown>, news.server)
        : normalizeServer(schema, olds.serverName, olds.server);
      if (canonical(want) !== canonical(have)) changed = true;
    }
    // The name is taken on the balancer until the old server is deleted.
    return replaces.length > 0
      ? { changes: true, replaces, deleteBeforeReplace: true }
      : { changes: changed };
  },

  async create(inputs: LbServerState) {
    const outs = await createAndRead(inputs);
    return { id: inputs.serverName, outs };
  },

  async read(
    id: string,
    props: LbServerState,
  ): Promise<{ id: string; props: Partial<LbServerState> }> {
    const effective = await readServer(props.api, props.serverName ?? id);
    // Gone behind Pulumi's back: an empty id drops it from state; the next `up` creates it.
    if (!effective) return { id: "", props: {} };
    return { id, props: outputs(props, effective) };
  },

  async update(id: string, olds: LbServerState, news: LbServerState) {
    const name = news.serverName ?? id;
    const r = await serversApi(news.api, "PUT", name, news.server);
    if (r.status === 200 && isObject(r.json)) {
      return { outs: outputs(news, r.json as unknown as ServerConfig) };
    }
    if (r.status !== 404 && r.status !== 405) {
      throw new Error(`updating server "${name}" at ${news.api.url}: ${r.status} ${errorText(r)}`);
    }
    // No PUT (plain gobetween: 404/405), or the server vanished: delete and create.
    await deleteServer(news.api, name);
    try {
      return { outs: await createAndRead(news) };
    } catch (err) {
      let restored = "the old config was restored";
      try {
        await createServer(olds.api, name, olds.server);
      } catch (e) {
        restored = `restoring the old config failed too: ${(e as Error).message}`;
      }
      throw new Error(
        `updating server "${name}" by delete and create (the API has no PUT): ${(err as Error).message}; ${restored}`,
      );
    }
  },

  async delete(id: string, props: LbServerState) {
    await deleteServer(props.api, props.serverName ?? id);
  },
};
