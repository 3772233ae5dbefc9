// GET /ping, GET /, GET /dump, POST /reload, GET /dashboard.

import type { FastifyInstance } from "fastify";
import { stringify as toToml } from "smol-toml";
import { formatDuration } from "../../config";
import type { Balancer } from "../../core/balancer";
import { VERSION } from "../../version";
import { sendChangeError, sendError, sendJson } from "../app";
import { DASHBOARD_HTML } from "../dashboard";
import { redactConfig, toTomlValue } from "../redact";
import { publicServers } from "./servers";

/** RFC 3339 with the local offset, as Go's time.Time marshals. */
function rfc3339(d: Date): string {
  const offsetMin = -d.getTimezoneOffset();
  const sign = offsetMin >= 0 ? "+" : "-";
  const abs = Math.abs(offsetMin);
  const local = new Date(d.getTime() + offsetMin * 60_000).toISOString().replace("Z", "");
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

export function registerSystemRoutes(app: FastifyInstance, balancer: Balancer): void {
  app.get("/ping", (_req, reply) => reply.type("text/plain; charset=utf-8").send("OK"));

  app.get("/", (_req, reply) => {
    const now = new Date();
    const source = balancer.source;
    return sendJson(reply, 200, {
      pid: process.pid,
      time: rfc3339(now),
      startTime: rfc3339(balancer.startTime),
      uptime: formatDuration(now.getTime() - balancer.startTime.getTime()),
      version: VERSION,
      configuration: source
        ? source.kind === "file"
          ? { kind: "file", path: source.path }
          : { kind: "url", url: source.url }
        : null,
    });
  });

  app.get<{ Querystring: { format?: string } }>("/dump", (req, reply) => {
    const format = req.query.format ?? "toml";
    const config = { ...redactConfig(balancer.config), servers: publicServers(balancer, false) };
    if (format === "json") return sendJson(reply, 200, config);
    if (format === "toml")
      return reply.type("text/plain; charset=utf-8").send(toToml(toTomlValue(config)));
    return sendError(
      reply,
      400,
      `format: expected "toml" or "json", got ${JSON.stringify(format)}`,
    );
  });

  app.post("/reload", async (_req, reply) => {
    try {
      return sendJson(reply, 200, await balancer.reload());
    } catch (err) {
      return sendChangeError(reply, err);
    }
  });

  app.get("/dashboard", (_req, reply) =>
    reply.type("text/html; charset=utf-8").send(DASHBOARD_HTML),
  );
}
