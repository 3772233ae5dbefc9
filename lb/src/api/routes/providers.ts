// GET /providers: each server provider's state (geoswarm extension). `{}` when none is
// configured; `docker` is the docker-labels provider: its endpoint and mode, the servers it keeps
// (members, backends, drain deadline) and every refused container or service with the label at
// fault.
import type { FastifyInstance } from "fastify";
import type { Balancer } from "../../core/balancer";
import { sendJson } from "../app";

const NAMES: Record<string, string> = { "docker-labels": "docker" };

export function providersView(balancer: Balancer): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [origin, provider] of balancer.providers)
    out[NAMES[origin] ?? origin] = provider.status();
  return out;
}

export function registerProviderRoutes(app: FastifyInstance, balancer: Balancer): void {
  app.get("/providers", (_req, reply) => sendJson(reply, 200, providersView(balancer)));
}
