// The REST API (gobetween's routes plus geoswarm's), on fastify. Bodies are parsed here rather
// than by content type, because gobetween parses every POST body as JSON whatever its header.

import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import basicAuth from "@fastify/basic-auth";
import cors from "@fastify/cors";
import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import type { ApiConfig } from "../config/types";
import type { Balancer } from "../core/balancer";
import { ChangeError } from "../core/balancer";
import type { Logger } from "../log/logger";
import { registerBackendRoutes } from "./routes/backends";
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

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

/** Constant-time credential check: compares fixed-length digests, never the raw strings. */
export function credentialsMatch(
  login: string,
  password: string,
  expected: { login: string; password: string },
): boolean {
  const a = Buffer.concat([digest(login), digest(password)]);
  const b = Buffer.concat([digest(expected.login), digest(expected.password)]);
  return timingSafeEqual(a, b);
}

export async function buildApi(
  balancer: Balancer,
  cfg: ApiConfig,
  log: Logger,
): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: 1024 * 1024,
    ...(cfg.tls
      ? { https: { cert: readFileSync(cfg.tls.cert_path), key: readFileSync(cfg.tls.key_path) } }
      : {}),
  }) as unknown as FastifyInstance;

  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => done(null, body));

  if (cfg.cors) {
    await app.register(cors, {
      origin: true,
      credentials: true,
      methods: ["GET", "POST", "PUT", "DELETE", "OPTIONS"],
      allowedHeaders: ["Origin", "Authorization", "Content-Type"],
    });
  }

  const auth = cfg.basic_auth;
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
  registerServerRoutes(app, balancer);
  registerBackendRoutes(app, balancer);
  return app;
}
