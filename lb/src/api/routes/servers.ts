// GET /servers, GET|POST|PUT|DELETE /servers/:name, GET /servers/:name/stats.
//
// gobetween's wire contract: an unknown server is `200 null` for GET, GET stats and DELETE
// (terraform-provider-gobetween reads null as "gone" and any status >= 400 as an error), and
// server objects always carry `sni`, `tls` and `backends_tls` (null: not supported here).
// Differences, on purpose: a bad body is 400 naming every field path; 409 is only for a taken
// name or bind; secrets are redacted as in /dump; exec kinds and link-local discovery addresses
// are refused (403, api/guard.ts); unknown keys come back as `Warning: 299` headers; PUT (not in
// gobetween) answers 404 for an unknown server.
import type { FastifyInstance, FastifyReply } from "fastify";
import { ConfigError, serverNameProblem, validateServer } from "../../config";
import type { ApiConfig, ServerConfig } from "../../config/types";
import type { Balancer } from "../../core/balancer";
import { portOf } from "../../core/binds";
import type { Refusal, ServerOrigin } from "../../core/provided";
import { sendChangeError, sendError, sendJson } from "../app";
import { jsonDepth, MAX_BODY_DEPTH, serverRefusal, warningHeaders } from "../guard";
import { redactServer } from "../redact";

interface NameParams {
  name: string;
}

/**
 * A server as the API shows it: secrets redacted, gobetween's unsupported sections null; a
 * provider's server carries its `origin` and the refusals of its port.
 */
export function publicServer(
  cfg: ServerConfig,
  failed?: string,
  provided?: { origin: ServerOrigin; refusals: Refusal[] },
): Record<string, unknown> {
  return {
    ...redactServer(cfg),
    sni: null,
    tls: null,
    backends_tls: null,
    ...(failed !== undefined ? { failed } : {}),
    ...(provided ? { origin: provided.origin, refused: provided.refusals } : {}),
  };
}

/** How `name` is shown: with its origin and refusals when a provider keeps it. */
export function showServer(balancer: Balancer, name: string, cfg: ServerConfig) {
  const origin = balancer.origins.get(name);
  const provided = origin
    ? {
        origin,
        refusals: (balancer.providers.get(origin)?.status().refusals ?? []).filter(
          (r) => r.port !== undefined && r.port === portOf(cfg.bind),
        ),
      }
    : undefined;
  return publicServer(cfg, balancer.failed.get(name)?.error, provided);
}

/**
 * Every server by name, as GET /servers shows them; /dump leaves out the providers' servers
 * (`withProvided` false): a dump saved as a config file would otherwise turn them into file
 * servers holding the ports of labels.
 */
export function publicServers(balancer: Balancer, withProvided = true): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, cfg] of Object.entries(balancer.config.servers)) {
    if (!withProvided && balancer.origins.has(name)) continue;
    out[name] = showServer(balancer, name, cfg);
  }
  return out;
}

/**
 * Parses and validates a server body; answers itself (400, or 403 for what the API refuses)
 * and returns undefined on failure.
 */
export function parseServerBody(
  balancer: Balancer,
  api: ApiConfig,
  name: string,
  body: unknown,
  reply: FastifyReply,
): ServerConfig | undefined {
  const badName = serverNameProblem(name);
  if (badName) {
    sendError(reply, 400, `name: ${badName}`);
    return undefined;
  }
  const text = typeof body === "string" ? body : "";
  if (jsonDepth(text) > MAX_BODY_DEPTH) {
    sendError(reply, 400, `(body): expected JSON nested at most ${MAX_BODY_DEPTH} levels deep`);
    return undefined;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    sendError(reply, 400, `(body): expected a JSON object: ${(err as Error).message}`);
    return undefined;
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    sendError(
      reply,
      400,
      `(body): expected a JSON object, got ${JSON.stringify(raw)?.slice(0, 80)}`,
    );
    return undefined;
  }
  let result: { server: ServerConfig; warnings: string[] };
  try {
    result = validateServer(name, raw, balancer.config.defaults, { pathPrefix: "" });
  } catch (err) {
    if (err instanceof ConfigError) {
      sendError(reply, 400, "invalid server configuration", err.problems);
      return undefined;
    }
    sendError(reply, 400, `(body): ${(err as Error).message}`);
    return undefined;
  }
  const refusal = serverRefusal(result.server, api);
  if (refusal) {
    sendError(reply, 403, refusal);
    return undefined;
  }
  if (result.warnings.length > 0) reply.header("warning", warningHeaders(result.warnings));
  return result.server;
}

export function registerServerRoutes(
  app: FastifyInstance,
  balancer: Balancer,
  api: ApiConfig,
): void {
  const notFound = (reply: FastifyReply, name: string) =>
    sendError(reply, 404, `server "${name}" does not exist`);

  app.get("/servers", (_req, reply) => sendJson(reply, 200, publicServers(balancer)));

  app.get<{ Params: NameParams }>("/servers/:name", (req, reply) => {
    const name = req.params.name;
    const cfg = balancer.servers.get(name)?.config ?? balancer.failed.get(name)?.config;
    return sendJson(reply, 200, cfg ? showServer(balancer, name, cfg) : null);
  });

  app.get<{ Params: NameParams }>("/servers/:name/stats", (req, reply) => {
    const server = balancer.servers.get(req.params.name);
    if (server) return sendJson(reply, 200, server.stats());
    const failed = balancer.failed.get(req.params.name);
    if (!failed) return sendJson(reply, 200, null);
    return sendJson(reply, 200, {
      active_connections: 0,
      rx_total: 0,
      tx_total: 0,
      rx_second: 0,
      tx_second: 0,
      backends: [],
      failed: failed.error,
    });
  });

  app.post<{ Params: NameParams }>("/servers/:name", async (req, reply) => {
    const cfg = parseServerBody(balancer, api, req.params.name, req.body, reply);
    if (!cfg) return reply;
    try {
      await balancer.create(req.params.name, cfg);
      return sendJson(reply, 200, null);
    } catch (err) {
      return sendChangeError(reply, err);
    }
  });

  app.put<{ Params: NameParams }>("/servers/:name", async (req, reply) => {
    const name = req.params.name;
    if (!balancer.servers.has(name) && !balancer.failed.has(name)) return notFound(reply, name);
    // Before the body is read: whatever it holds, a provider's server is not changed here.
    if (balancer.origins.has(name)) return sendChangeError(reply, balancer.readOnly(name));
    const cfg = parseServerBody(balancer, api, name, req.body, reply);
    if (!cfg) return reply;
    try {
      await balancer.update(name, cfg);
      const now = balancer.servers.get(name)?.config;
      return sendJson(reply, 200, now ? publicServer(now) : null);
    } catch (err) {
      return sendChangeError(reply, err);
    }
  });

  app.delete<{ Params: NameParams }>("/servers/:name", async (req, reply) => {
    const name = req.params.name;
    if (!balancer.servers.has(name) && !balancer.failed.has(name)) {
      return sendJson(reply, 200, null);
    }
    try {
      await balancer.delete(name);
      return sendJson(reply, 200, null);
    } catch (err) {
      return sendChangeError(reply, err);
    }
  });
}
