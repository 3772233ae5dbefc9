// Backend-level operations gobetween never had (its issues #118, #255, #209):
//   POST /servers/:name/backends/:backend/disable   out of rotation, connections continue
//   POST /servers/:name/backends/:backend/enable    back in rotation
//   POST /servers/:name/backends/:backend/drain?timeout=30s
//        out of rotation; waits up to timeout for its connections, then closes the rest
// :backend is "host:port" as listed by the stats.
import type { FastifyInstance } from "fastify";
import { isDuration, parseDuration } from "../../config";
import type { Balancer } from "../../core/balancer";
import { sendError, sendJson } from "../app";

const DEFAULT_DRAIN_TIMEOUT = "30s";

interface Params {
  name: string;
  backend: string;
  action: string;
}

export function registerBackendRoutes(app: FastifyInstance, balancer: Balancer): void {
  app.post<{ Params: Params; Querystring: { timeout?: string } }>(
    "/servers/:name/backends/:backend/:action",
    async (req, reply) => {
      const { name, backend: key, action } = req.params;
      const server = balancer.servers.get(name);
      if (!server) return sendError(reply, 404, `server "${name}" does not exist`);
      const backend = server.table.get(key);
      if (!backend) return sendError(reply, 404, `backend "${key}" is not in server "${name}"`);
      switch (action) {
        case "disable":
        case "enable":
          server.table.setEnabled(key, action === "enable");
          return sendJson(reply, 200, {
            backend: key,
            enabled: backend.enabled,
            active_connections: backend.activeConnections,
          });
        case "drain": {
          const timeout = req.query.timeout ?? DEFAULT_DRAIN_TIMEOUT;
          const timeoutMs = isDuration(timeout) ? parseDuration(timeout) : -1;
          if (timeoutMs < 0) {
            return sendError(
              reply,
              400,
              `timeout: expected a Go duration such as "30s", got ${JSON.stringify(timeout)}`,
            );
          }
          const { closed } = await server.drainBackend(key, timeoutMs);
          return sendJson(reply, 200, {
            backend: key,
            enabled: backend.enabled,
            closed_connections: closed,
          });
        }
        default:
          return sendError(
            reply,
            404,
            `action: expected "disable", "enable" or "drain", got ${JSON.stringify(action)}`,
          );
      }
    },
  );
}
