// The dynamic provider behind LbServer: registers one balancer server through geoswarm-lb's (or
// gobetween's) REST API.
//
// Serialization rules (docs: /work/shared/reference/pulumi-notes.md §2.4): the engine stores this
// object as JavaScript text in every LbServer's state and runs it in its own Node process. So it
// captures NO module imports: only globals (fetch, URL, Buffer, AbortSignal), `require()` inside
// functions, the helper functions below and one string, SCHEMA_MODULE. Credentials come from the
// resource's inputs/state on every call, never from the closure.
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

function withoutUnsetDefaults(
  config: Record<string, unknown>,
  raw: Record<string, unknown>,
): Record<string, unknown> {
  const out = { ...config };
  for (const k of CONNECTION_KEYS) {
    if (raw[k] === undefined || raw[k] === null || raw[k] === "") delete out[k];
  }
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
  return f;
}

interface ApiResponse {
  status: number;
  json: unknown;
  text: string;
}

/** One call to /servers/:name with basic auth. Error messages never contain the password. */
async function serversApi(
  api: ApiState,
  method: string,
  name: string,
  body?: unknown,
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
  if (body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    const e = err as Error & { cause?: Error };
    throw new Error(`${method} ${url.href}: ${e.cause?.message ?? e.message}`);
  }
  const text = await res.text();
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
  return {
    serverName: s.serverName,
    api: { url: s.api.url, username: s.api.username, password: s.api.password },
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
    const replaces: string[] = [];
    if (olds.serverName !== news.serverName) replaces.push("serverName");
    if (olds.api?.url !== news.api?.url) replaces.push("api.url");
    let changed =
      olds.api?.username !== news.api?.username || olds.api?.password !== news.api?.password;
    if (unknownPaths(news.server).length > 0) {
      // Preview with values not known yet: an update at least; a replace if bind/protocol moved.
      const n = isObject(news.server) ? news.server : {};
      const o = olds.effective ?? (olds.server as Partial<ServerConfig>);
      if (n.bind === UNKNOWN || n.bind !== o.bind) replaces.push("server.bind");
      if (n.protocol === UNKNOWN || (n.protocol ?? "tcp") !== (o.protocol ?? "tcp")) {
        replaces.push("server.protocol");
      }
      changed = true;
    } else {
      const schema = loadSchema();
      const want = normalizeServer(schema, news.serverName, news.server);
      // Compare with what the balancer reported (refresh makes drift visible), else the old inputs.
      const have = olds.effective
        ? withoutUnsetDefaults(olds.effective as unknown as Record<string, unknown>, news.server)
        : normalizeServer(schema, olds.serverName, olds.server);
      if (want.bind !== have.bind) replaces.push("server.bind");
      if (want.protocol !== have.protocol) replaces.push("server.protocol");
      if (canonical(want) !== canonical(have)) changed = true;
    }
    // The bind (and on the same balancer, the name) is taken until the old server is deleted.
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
