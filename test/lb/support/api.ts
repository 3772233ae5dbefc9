// An in-process balancer with its API on loopback, and a small client for it.
import { parseConfigText, validateConfig } from "../../../lb/src/config";
import { silentLogger } from "../../../lb/src/log/logger";
import { type RunningLb, runLb } from "../../../lb/src/run";

export const AUTH = { login: "admin", password: "test-password" };
export const AUTH_HEADER = `Basic ${Buffer.from(`${AUTH.login}:${AUTH.password}`).toString("base64")}`;

export interface ApiResponse {
  status: number;
  text: string;
  json: unknown;
  headers: Headers;
}

export async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  opts: {
    auth?: string | null;
    raw?: boolean;
    /** Default "application/json" when there is a body; null sends none. */
    contentType?: string | null;
    headers?: Record<string, string>;
  } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...opts.headers };
  const auth = opts.auth === undefined ? AUTH_HEADER : opts.auth;
  if (auth) headers.authorization = auth;
  const contentType = opts.contentType === undefined ? "application/json" : opts.contentType;
  if (body !== undefined && contentType !== null) headers["content-type"] = contentType;
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : opts.raw ? String(body) : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, headers: res.headers };
}

/**
 * Starts servers from `serversToml` plus an API on 127.0.0.1:0 with basic auth. `apiKeys` go into
 * [api]; `extra` is TOML placed after [api.basic_auth] (other sections, or [api.tls]).
 */
export async function startWithApi(
  serversToml: string,
  extra = "",
  apiKeys = "",
): Promise<RunningLb & { base: string }> {
  const toml = `
[api]
enabled = true
bind = "127.0.0.1:0"
${apiKeys}
[api.basic_auth]
login = "${AUTH.login}"
password = "${AUTH.password}"
${extra}
${serversToml}
`;
  const { config } = validateConfig(parseConfigText(toml, "toml", { envSubst: false }));
  const lb = await runLb(config, silentLogger());
  return Object.assign(lb, { base: `http://${lb.apiAddress}` });
}

/** A minimal valid server body for POST/PUT. */
export function serverBody(
  bind: string,
  backends: string[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    bind,
    protocol: "tcp",
    balance: "roundrobin",
    discovery: { kind: "static", static_list: backends },
    ...extra,
  };
}
