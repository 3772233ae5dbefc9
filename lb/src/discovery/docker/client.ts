// The Docker Engine API client used by docker discovery: plain node:http/node:https over the unix
// socket or TCP, keep-alive, unversioned paths (as gobetween; the daemon answers in its own API
// version, and classic Swarm accepts them too).
//
// Why not dockerode: it brings docker-modem → ssh2 (optional native cpu-features, dynamic requires)
// for the five GET endpoints and one streamed endpoint needed here; that is a lot of code in the
// single-file artifact for little gain, and its stream demuxing/event helpers do not fit the
// runner's push hook any better than a 20-line line splitter.
import { bracketHost, DOCKER_URL_SCHEMES, parseUrlHost } from "../../config";
import type { DiscoveryConfig } from "../../config/types";
import {
  type HttpTarget,
  httpGetOk,
  httpStreamLines,
  keepAliveAgent,
  parseJsonBody,
} from "../http";

export interface DockerEndpoint {
  target: HttpTarget;
  /** Host to use for ports published on a wildcard address ("127.0.0.1" for unix sockets). */
  host: string;
  /** TLS without a CA file: the server certificate is not verified (gobetween does the same). */
  insecure: boolean;
}

/** Where and how to reach a Docker endpoint, as docker discovery and [providers.docker] set it. */
export interface DockerEndpointSpec {
  endpoint: string;
  tls: boolean;
  cert?: string;
  key?: string;
  ca?: string;
}

export function parseDockerEndpoint(cfg: DiscoveryConfig): DockerEndpoint {
  return dockerEndpoint(
    {
      endpoint: cfg.docker_endpoint as string,
      tls: cfg.docker_tls_enabled === true,
      cert: cfg.docker_tls_cert_path as string | undefined,
      key: cfg.docker_tls_key_path as string | undefined,
      ca: cfg.docker_tls_cacert_path as string | undefined,
    },
    "discovery.docker_endpoint",
  );
}

/** `keyPath` names the config key in the error thrown for a malformed endpoint. */
export function dockerEndpoint(spec: DockerEndpointSpec, keyPath: string): DockerEndpoint {
  const raw = spec.endpoint;
  const tls = spec.tls;
  const files = {
    cert: spec.cert || undefined,
    key: spec.key || undefined,
    ca: spec.ca || undefined,
  };
  if (raw.startsWith("unix://")) {
    return {
      target: { protocol: "http:", host: "localhost", port: 0, socketPath: raw.slice(7) },
      host: "127.0.0.1",
      insecure: false,
    };
  }
  const url = parseUrlHost(raw, DOCKER_URL_SCHEMES);
  if (!url) {
    throw new Error(
      `${keyPath}: expected unix:///path, tcp://host[:port], http://host[:port] or https://host[:port], got ${JSON.stringify(raw)}`,
    );
  }
  const host = url.host;
  const https = tls || url.scheme === "https";
  const port = url.port ?? (https ? 2376 : 2375);
  return {
    target: {
      protocol: https ? "https:" : "http:",
      host,
      port,
      tls: https ? files : undefined,
      rejectUnauthorized: !https || files.ca !== undefined,
    },
    host: bracketHost(host),
    insecure: https && files.ca === undefined,
  };
}

export class DockerClient {
  private readonly target: HttpTarget;

  constructor(readonly endpoint: DockerEndpoint) {
    this.target = { ...endpoint.target, agent: keepAliveAgent(endpoint.target.protocol) };
  }

  async get<T>(path: string, signal: AbortSignal): Promise<T> {
    const res = await httpGetOk(this.target, path, signal);
    return parseJsonBody(res.body, `docker GET ${path}`) as T;
  }

  /** Follows GET /events; resolves when the daemon ends the stream. */
  events(
    signal: AbortSignal,
    onOpen: () => void,
    onEvent: (e: DockerEvent) => void,
  ): Promise<void> {
    // A connection of its own (not the keep-alive pool), closed when the stream ends.
    const target = { ...this.endpoint.target, agent: undefined };
    return httpStreamLines(target, "/events", signal, onOpen, (line) => {
      try {
        onEvent(JSON.parse(line) as DockerEvent);
      } catch {
        // not an event: ignore
      }
    });
  }

  close(): void {
    this.target.agent?.destroy();
  }
}

export interface DockerEvent {
  Type?: string;
  Action?: string;
  status?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/** A label filter "key" or "key=value" as Docker applies it. */
export function labelMatches(labels: Record<string, string> | null | undefined, filter: string) {
  if (filter === "") return true;
  if (!labels) return false;
  const eq = filter.indexOf("=");
  if (eq < 0) return Object.hasOwn(labels, filter);
  return labels[filter.slice(0, eq)] === filter.slice(eq + 1);
}
