// What GET /dump may show: the effective configuration without secrets (gobetween leaks them).
import type { LbConfig, ServerConfig } from "../config/types";

export const REDACTED = "<redacted>";
const SECRET_KEYS = new Set([
  "password",
  "consul_auth_password",
  "consul_acl_token",
  "lxd_server_remote_password",
]);

function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_KEYS.has(k) && typeof v === "string" && v !== "" ? REDACTED : redact(v);
    }
    return out;
  }
  return value;
}

export function redactConfig(config: LbConfig): LbConfig {
  return redact(config) as LbConfig;
}

export function redactServer(server: ServerConfig): ServerConfig {
  return redact(server) as ServerConfig;
}

/** TOML has no null: drop null and undefined values (gobetween's encoder omits nil tables). */
export function toTomlValue(value: unknown): Record<string, unknown> {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined) out[k] = strip(x);
      return out;
    }
    return v;
  };
  return strip(value) as Record<string, unknown>;
}
