// LbServer: one geoswarm-lb (or gobetween) server, registered through the balancer's REST API by
// a dynamic provider (./lb-server-provider.ts). Type token `pulumi-nodejs:dynamic/geoswarm:LbServer`.
import * as pulumi from "@pulumi/pulumi";
import type {
  AccessConfig,
  BalanceStrategy,
  ConnectionOptions,
  DiscoveryConfig,
  HealthcheckConfig,
  Protocol,
  ServerConfig,
  UdpConfig,
} from "../lb/src/config/types";
import { lbServerProvider } from "./lb-server-provider";

/** Every level may be an Input (an Output of another resource, or a plain value). */
export type DeepInput<T> = unknown extends T
  ? unknown
  : T extends string | number | boolean | null | undefined
    ? pulumi.Input<T>
    : T extends readonly (infer U)[]
      ? pulumi.Input<DeepInput<U>[]>
      : pulumi.Input<{ [K in keyof T]: DeepInput<T[K]> }>;

/**
 * A server as the balancer's REST API takes it (`POST /servers/:name`, gobetween keys). Only
 * `bind` and `discovery.kind` are required; the balancer fills every default (lb/src/config).
 */
export interface LbServerSpec extends Partial<ConnectionOptions> {
  /** host:port to listen on, e.g. "0.0.0.0:22001". Changing it updates the server in place. */
  bind: string;
  /** "tcp" (default) or "udp". Changing it updates the server in place. */
  protocol?: Protocol;
  /** Default "weight". */
  balance?: BalanceStrategy;
  /** Default 2. */
  backend_connection_retries?: number;
  discovery: Partial<DiscoveryConfig> & Pick<DiscoveryConfig, "kind">;
  /** Default: no health check. */
  healthcheck?: Partial<HealthcheckConfig> & Pick<HealthcheckConfig, "kind">;
  access?: Partial<AccessConfig> | null;
  proxy_protocol?: { version: "1" | "2" } | null;
  udp?: Partial<UdpConfig> | null;
}

/** How {@link LbServer} reaches the balancer's REST API. */
export interface LbServerApiArgs {
  /** Base URL of the REST API, e.g. `https://203.0.113.10:8888`. Changing it replaces the server. */
  url: pulumi.Input<string>;
  /** Basic-auth login. Required. */
  username: pulumi.Input<string>;
  /** Basic-auth password. Required; kept secret in state. */
  password: pulumi.Input<string>;
  /**
   * PEM of the CA that signed the API's certificate (Balancer.apiCaPem); the only CA trusted for
   * an https:// url. Defaults to none: the system's CAs (and for http://, no TLS at all).
   */
  caPem?: pulumi.Input<string>;
}

/** Arguments of {@link LbServer}. */
export interface LbServerArgs {
  /** The balancer's REST API. Required. */
  api: LbServerApiArgs;
  /** The server to register. Required. */
  server: DeepInput<LbServerSpec>;
  /** Name of the server on the balancer. Defaults to the resource name. Changing it replaces. */
  serverName?: pulumi.Input<string>;
  /**
   * Identity of the balancer process's host, e.g. Balancer.instanceId (the EC2 instance id). A new
   * instance starts without the servers registered on the old one, so a change REPLACES the server
   * (re-registers it). Defaults to none (a plain gobetween you manage yourself).
   */
  balancerId?: pulumi.Input<string>;
}

/**
 * A balancer server managed through the REST API: POST on create, PUT on update (also for a new
 * bind or protocol; delete and create against a plain gobetween, which has no PUT), GET on refresh
 * (drift and deletion behind Pulumi's back show up), idempotent DELETE. A change of serverName,
 * api.url or balancerId replaces the server, deleting the old one first (the same name is reused).
 * Calls wait up to 2 minutes for an API that refuses connections (a balancer still starting).
 * Inputs are checked with the balancer's own schema at preview time; each failure names its
 * property.
 */
export class LbServer extends pulumi.dynamic.Resource {
  declare readonly serverName: pulumi.Output<string>;
  /** Secret (holds the API password). */
  declare readonly api: pulumi.Output<{
    url: string;
    username: string;
    password: string;
    caPem?: string;
  }>;
  /** The balancer instance the server is registered on, when given. */
  declare readonly balancerId: pulumi.Output<string | undefined>;
  /** The server as given. */
  declare readonly server: pulumi.Output<LbServerSpec>;
  /** The server's config as the balancer reports it, every default filled in. */
  declare readonly effective: pulumi.Output<ServerConfig>;
  /** The address the server listens on, as the balancer reports it. */
  declare readonly bind: pulumi.Output<string>;

  constructor(name: string, args: LbServerArgs, opts?: pulumi.CustomResourceOptions) {
    if (!args || typeof args !== "object") {
      throw new Error(`LbServer ${name}: args: expected { api, server }, got ${String(args)}`);
    }
    for (const key of ["url", "username", "password"] as const) {
      if (args.api?.[key] === undefined) {
        throw new Error(`LbServer ${name}: api.${key}: required (the balancer's REST API ${key})`);
      }
    }
    if (args.server === undefined || args.server === null) {
      throw new Error(`LbServer ${name}: server: required (bind, discovery, ...)`);
    }
    super(
      lbServerProvider,
      name,
      {
        serverName: args.serverName ?? name,
        api: {
          url: args.api.url,
          username: args.api.username,
          password: pulumi.secret(args.api.password),
          caPem: args.api.caPem,
        },
        balancerId: args.balancerId,
        server: args.server,
        effective: undefined,
        bind: undefined,
      },
      {
        ...opts,
        // The engine marks outputs secret when the same-named input was; say it explicitly.
        additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "api"],
      },
      "geoswarm",
      "LbServer",
    );
  }
}
