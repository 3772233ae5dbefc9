// GET /servers, GET|POST|PUT|DELETE /servers/:name, GET /servers/:name/stats.
//
// Differences from gobetween, on purpose: an unknown server is 404 with a JSON error (gobetween:
// 200 null); a bad body is 400 naming every field path; 409 is only for a taken name or bind.
import type { FastifyInstance, FastifyReply } from "fastify";
import { ConfigError, validateServer } from "../../config";
import type { ServerConfig } from "../../config/types";
import type { Balancer } from "../../core/balancer";
import { sendChangeError, sendError, sendJson } from "../app";

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

interface NameParams {
  name: string;
}

/** Parses and validates a server body; answers 400 itself and returns undefined on failure. */
export function parseServerBody(
  balancer: Balancer,
  name: string,
  body: unknown,
  reply: FastifyReply,
): ServerConfig | undefined {
  if (!NAME.test(name)) {
    sendError(
      reply,
      400,
      `name: expected 1-128 characters of letters, digits, ".", "_" or "-" starting with a letter or digit, got ${JSON.stringify(name)}`,
    );
    return undefined;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(typeof body === "string" ? body : "");
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
  try {
    return validateServer(name, raw, balancer.config.defaults, { pathPrefix: "" }).server;
  } catch (err) {
    if (err instanceof ConfigError) {
      sendError(reply, 400, "invalid server configuration", err.problems);
      return undefined;
    }
    sendError(reply, 400, `(body): ${(err as Error).message}`);
    return undefined;
  }
}

export function registerServerRoutes(app: FastifyInstance, balancer: Balancer): void {
  const notFound = (reply: FastifyReply, name: string) =>
    sendError(reply, 404, `server "${name}" does not exist`);

  app.get("/servers", (_req, reply) => sendJson(reply, 200, balancer.config.servers));

  app.get<{ Params: NameParams }>("/servers/:name", (req, reply) => {
    const server = balancer.servers.get(req.params.name);
    return server ? sendJson(reply, 200, server.config) : notFound(reply, req.params.name);
  });

  app.get<{ Params: NameParams }>("/servers/:name/stats", (req, reply) => {
    const server = balancer.servers.get(req.params.name);
    return server ? sendJson(reply, 200, server.stats()) : notFound(reply, req.params.name);
  });

  app.post<{ Params: NameParams }>("/servers/:name", async (req, reply) => {
    const cfg = parseServerBody(balancer, req.params.name, req.body, reply);
    if (!cfg) return reply;
    try {
      await balancer.create(req.params.name, cfg);
      return sendJson(reply, 200, null);
    } catch (err) {
      return sendChangeError(reply, err);
    }
  });

  app.put<{ Params: NameParams }>("/servers/:name", async (req, reply) => {
    if (!balancer.servers.has(req.params.name)) return notFound(reply, req.params.name);
    const cfg = parseServerBody(balancer, req.params.name, req.body, reply);
    if (!cfg) return reply;
    try {
      await balancer.update(req.params.name, cfg);
      return sendJson(reply, 200, balancer.servers.get(req.params.name)?.config ?? null);
    } catch (err) {
      return sendChangeError(reply, err);
    }
  });

  app.delete<{ Params: NameParams }>("/servers/:name", async (req, reply) => {
    try {
      await balancer.delete(req.params.name);
      return sendJson(reply, 200, null);
    } catch (err) {
      return sendChangeError(reply, err);
    }
  });
}
