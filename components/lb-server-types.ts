// Shapes of the LbServer provider's inputs and state (type-only: the provider imports nothing
// at run time, see lb-server-provider.ts).
import type { ConnectionOptions, ServerConfig } from "../lb/src/config/types";

/** The balancer API and its basic-auth login. */
export interface ApiState {
  url: string;
  username: string;
  password: string;
  /** PEM of the CA that signed the API's certificate; the only CA trusted for it. */
  caPem?: string;
}

/** Inputs after check, and (plus `effective`/`bind`) the resource's state. */
export interface LbServerState {
  serverName: string;
  api: ApiState;
  /** Identity of the balancer instance; a new one replaces the server (it starts empty). */
  balancerId?: string;
  /** The server as written by the user (gobetween keys); the balancer fills defaults. */
  server: Record<string, unknown>;
  /** The server's config as the balancer reports it (GET /servers/:name). */
  effective?: ServerConfig;
  bind?: string;
}

/** lb/dist/config.cjs, as far as the provider uses it. */
export interface SchemaModule {
  validateServer(
    name: string,
    raw: unknown,
    defaults: ConnectionOptions,
    opts: { pathPrefix?: string },
  ): { server: ServerConfig };
}
