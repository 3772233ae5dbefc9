// The REST API (gobetween's routes plus geoswarm's), on fastify. Unlike gobetween, which parses
// every body as JSON whatever its header, a body must be application/json (api/guard.ts): a web
// page can send text/plain to loopback without a CORS preflight.

import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import basicAuth from "@fastify/basic-auth";
import cors from "@fastify/cors";
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyServerFactory,
} from "fastify";
import { parseDuration } from "../config/duration";
import {
  DEFAULT_API_MAX_CONNECTIONS,
  DEFAULT_API_REQUEST_TIMEOUT,
} from "../config/schema/sections";
import type { ApiConfig } from "../config/types";
import type { Balancer } from "../core/balancer";
import { ChangeError } from "../core/balancer";
import type { Logger } from "../log/logger";
import { credentialsMatch } from "./credentials";
import { refuse, requestRefusal } from "./guard";
import { registerBackendRoutes } from "./routes/backends";
import { registerProviderRoutes } from "./routes/providers";
import { registerServerRoutes } from "./routes/servers";
import { registerSystemRoutes } from "./routes/system";

/** JSON as gobetween answers it: 4-space indentation. */
export function sendJson(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply
    .code(status)
    .header("content-type", "application/json; charset=utf-8")
    .send(`${JSON.stringify(body, null, 4)}\n`);
}

/** A 4xx answer: a message and, for validation failures, every problem with its field path. */
export function sendError(
  reply: FastifyReply,
  status: number,
  message: string,
  problems?: string[],
): FastifyReply {
  return sendJson(
    reply,
    status,
    problems && problems.length > 0 ? { error: message, problems } : { error: message },
  );
}

/** Maps an error thrown by a change to its HTTP answer. */
export function sendChangeError(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof ChangeError) return sendError(reply, err.status, err.message, err.problems);
  return sendError(reply, 500, (err as Error).message);
}

export { credentialsMatch };

/** Longest server name (128) plus room: Fastify answers a bare 414 past this. */
const MAX_PARAM_LENGTH = 256;

/**
 * The HTTP(S) server under Fastify, with limits Fastify does not expose: a whole request must
 * arrive within `request_timeout` (Node checks every second, not every 30 s), headers within
 * the same, and at most `max_connections` sockets are open.
 */
function serverFactory(cfg: ApiConfig): FastifyServerFactory {
  const timeoutMs = parseDuration(cfg.request_timeout ?? DEFAULT_API_REQUEST_TIMEOUT);
  const options = {
    requestTimeout: timeoutMs,
    headersTimeout: timeoutMs,
    keepAliveTimeout: 5000,
    connectionsCheckingInterval: Math.min(1000, timeoutMs),
  };
  return (handler) => {
    const server = cfg.tls
      ? https.createServer(
          {
            ...options,
            cert: readFileSync(cfg.tls.cert_path),
            key: readFileSync(cfg.tls.key_path),
          },
          handler,
        )
      : http.createServer(options, handler);
    server.maxConnections = cfg.max_connections ?? DEFAULT_API_MAX_CONNECTIONS;
    return server as http.Server;
  };
}

export async function buildApi(
  balancer: Balancer,
  cfg: ApiConfig,
  log: Logger,
): Promise<FastifyInstance> {
  const auth = cfg.basic_auth;
  if (auth?.password_file !== undefined && auth.password === "") {
    // validateConfig alone does not read files; loadConfig does. Never accept an empty password.
    throw new Error("api.basic_auth.password_file was not read (load the config with loadConfig)");
  }
  const app = Fastify({
    logger: false,
    bodyLimit: 1024 * 1024,
    maxParamLength: MAX_PARAM_LENGTH,
    serverFactory: serverFactory(cfg),
  }) as unknown as FastifyInstance;

  // Before auth and parsing: Host, Origin and Content-Type (api/guard.ts).
  app.addHook("onRequest", (req, reply, done) => {
    const refusal = requestRefusal(req, cfg);
    if (refusal) {
      refuse(reply, refusal.status, refusal.message);
      return;
    }
    done();
  });

  app.removeAllContentTypeParsers();
  // The route parses (and bounds the nesting of) the text; the guard let only JSON through.
  app.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => done(null, body));

  if (cfg.cors && (cfg.cors_origins ?? []).length > 0) {
    await app.register(cors, {
      origin: cfg.cors_origins,
      credentials: true,
      methods: ["GET", "POST", "PUT", "DELETE", "OPTIONS"],
      allowedHeaders: ["Origin", "Authorization", "Content-Type"],
    });
  }

  if (auth) {
    await app.register(basicAuth, {
      authenticate: { realm: "Authorization Required" },
      validate: async (login, password) => {
        if (!credentialsMatch(login, password, auth)) throw new Error("Unauthorized");
      },
    });
    app.addHook("onRequest", (req, reply, done) => {
      if (req.method === "OPTIONS" || req.url === "/ping") return done();
      app.basicAuth(req, reply, done);
    });
  }

  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const status =
      err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status === 401) return sendError(reply, 401, "unauthorized");
    if (status >= 500) log.error({ err: err.message }, "api error");
    return sendError(reply, status, err.message);
  });
  app.setNotFoundHandler((_req, reply) => sendError(reply, 404, "no such route"));
  // With worker threads, byte and connection totals are collected on demand, so every read
  // (stats, dashboard, dump) counts the traffic of all threads up to this request. A worker that
  // does not answer costs a log line and older totals, never the answer itself.
  app.addHook("preHandler", async (req) => {
    if (req.method !== "GET" || req.url === "/ping") return;
    await balancer.syncStats().catch((err: Error) => {
      log.warn({ err: err.message }, "worker totals not collected; answering with older ones");
    });
  });

  registerSystemRoutes(app, balancer);
  registerServerRoutes(app, balancer, cfg);
  registerBackendRoutes(app, balancer);
  registerProviderRoutes(app, balancer);
  return app;
}
