// geoswarm-lb configuration for the Balancer host, rendered as TOML. Typed against the shared
// schema in lb/src/config (the only part of lb/ the components may import).
import { stringify } from "smol-toml";
import type {
  ApiConfig,
  DockerProviderConfig,
  LbConfig,
  ServerConfig,
} from "../../lb/src/config/types";
import { DOCKER_PUBLISHED_PORTS } from "../flows";
import { CONSUL_SERVERS_SCRIPT } from "./cloudinit";
import { GO_DURATION, hostCidr } from "./net";

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

/** A config file as written by hand: gobetween keys, unset keys take the balancer's defaults. */
export type RawLbConfig = Omit<DeepPartial<LbConfig>, "servers" | "api" | "providers"> & {
  api?: Omit<Partial<ApiConfig>, "basic_auth"> & {
    basic_auth?: { login: string } & ({ password: string } | { password_file: string });
  };
  servers?: Record<string, DeepPartial<ServerConfig>>;
  providers?: { docker?: RawDockerProvider };
};

/** geoswarm-lb's `[providers.docker]` (entry points from container labels), as rendered here. */
export type RawDockerProvider = Pick<DockerProviderConfig, "endpoint" | "port_range"> &
  Partial<DockerProviderConfig>;

/** What the Balancer passes for `[providers.docker]`. */
export interface LabelsProviderInput {
  /** The Swarm manager's Docker API, `tcp://<EIP>:2377` (standalone) or `:2376` (swarm mode). */
  endpoint: string;
  /** The balancer's Docker client certificate (the files docker discovery uses). */
  tls: { cacertPath: string; certPath: string; keyPath: string };
  /** "low-high", inclusive: the only ports a `geoswarm.lb.port` label may take. */
  portRange: string;
  /** Go duration a port stays open after its last container went away. */
  drainGrace: string;
}

export interface BalancerConfigInput {
  /** Port of the REST API, bound on all interfaces (the security group limits who reaches it). */
  apiPort: number;
  apiUser: string;
  /**
   * File on the balancer host holding the API password (`password_file`), so that the password
   * is neither in the config file nor on a command line. Required.
   */
  apiPasswordFile: string;
  /**
   * Addresses allowed to reach the `consul` server: every cluster EIP and the operator CIDR.
   * Order is kept; duplicates are removed.
   */
  consulClients: string[];
  /** geoswarm-lb data-plane threads (`workers`); written only when above 1. Defaults to 1. */
  workers?: number;
  /**
   * File in which the balancer keeps servers registered through the API (`[state] path`), so they
   * survive restarts; inside the unit's StateDirectory. Defaults to none (kept in memory only).
   */
  statePath?: string;
  /**
   * Certificate and key files for HTTPS on the API (`[api.tls]`). Defaults to none: plain HTTP,
   * which the balancer warns about for basic auth on a non-loopback bind.
   */
  apiTls?: { certPath: string; keyPath: string };
  /**
   * Entry points from container labels (`[providers.docker]`) against the Swarm manager.
   * Defaults to none: no such section, the provider is off.
   */
  labels?: LabelsProviderInput;
}

/**
 * `[defaults] backend_connection_timeout` with labels on. Label servers take it from `[defaults]`
 * and have no healthcheck unless labelled, so without it a dead backend holds each client it is
 * chosen for for the OS connect timeout (~127 s) before the next one is tried. A cross-region
 * connect takes well under a second.
 */
export const LABELS_BACKEND_CONNECT_TIMEOUT = "3s";

function accessRule(cidrOrIp: string): string {
  return `allow ${cidrOrIp.includes("/") ? cidrOrIp : hostCidr(cidrOrIp)}`;
}

/**
 * The balancer's own config: the API with basic auth, and the `consul` server that gives every
 * region one stable address for Consul (article: gobetween in front of the Consul servers).
 *
 * Discovery is `exec` against the local agent rather than `kind = "consul"`: Consul registers its
 * built-in `consul` service on the server RPC port 8300, and consul discovery takes the port from
 * the service, so it would send HTTP clients to 8300. The script prints `<address>:8500` instead.
 */
export function balancerConfig(i: BalancerConfigInput): RawLbConfig {
  const rules = [...new Set(i.consulClients.map(accessRule))];
  return {
    ...(i.workers && i.workers > 1 ? { workers: i.workers } : {}),
    logging: { level: "info", output: "stdout", format: "json" },
    api: {
      enabled: true,
      bind: `:${i.apiPort}`,
      basic_auth: { login: i.apiUser, password_file: i.apiPasswordFile },
      ...(i.apiTls ? { tls: { cert_path: i.apiTls.certPath, key_path: i.apiTls.keyPath } } : {}),
    },
    ...(i.statePath ? { state: { path: i.statePath } } : {}),
    ...(i.labels
      ? { defaults: { backend_connection_timeout: LABELS_BACKEND_CONNECT_TIMEOUT } }
      : {}),
    ...(i.labels ? { providers: { docker: dockerProvider(i.labels) } } : {}),
    servers: {
      consul: {
        bind: "0.0.0.0:8500",
        protocol: "tcp",
        balance: "iphash",
        discovery: {
          kind: "exec",
          exec_command: [CONSUL_SERVERS_SCRIPT],
          interval: "10s",
          timeout: "5s",
          failpolicy: "keeplast",
        },
        healthcheck: { kind: "none" },
        access: { default: "deny", rules },
      },
    },
  };
}

/**
 * `[providers.docker]`: the manager over TLS with the balancer's client certificate; listeners on
 * every interface (the security group admits `labels.allowedCidrs` to the range). Backends only
 * on Docker's ephemeral published ports, the only host ports the security groups let the balancer
 * reach: a fixed `-p 8080:80` is refused by name instead of timing out.
 */
function dockerProvider(l: LabelsProviderInput): RawDockerProvider {
  return {
    endpoint: l.endpoint,
    tls_enabled: true,
    tls_cacert_path: l.tls.cacertPath,
    tls_cert_path: l.tls.certPath,
    tls_key_path: l.tls.keyPath,
    listen_host: "0.0.0.0",
    port_range: l.portRange,
    drain_grace: l.drainGrace,
    backend_port_range: `${DOCKER_PUBLISHED_PORTS[0]}-${DOCKER_PUBLISHED_PORTS[1]}`,
  };
}

/**
 * Refuses, at construction, a labels port range or drain grace that the install's
 * `geoswarm-lb --check` would refuse on the host. (The schema itself is not imported: an installed
 * package ships only its bundle, lb/dist/config.cjs.)
 */
export function checkLabelsProvider(balancer: string, portRange: string, drainGrace: string): void {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(portRange);
  const [lo, hi] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  if (!m || lo < 1 || hi > 65535 || lo > hi) {
    throw new Error(
      `Balancer ${balancer}: labels.portRange: expected "low-high" with 1 <= low <= high <= 65535, such as "20000-20999", got "${portRange}"`,
    );
  }
  if (!GO_DURATION.test(drainGrace)) {
    throw new Error(
      `Balancer ${balancer}: labels.drainGrace: expected a Go duration such as "30s", got "${drainGrace}"`,
    );
  }
}

export function renderBalancerConfig(c: RawLbConfig): string {
  return `# geoswarm-lb configuration, rendered by geoswarm's Balancer component. Do not edit on the host.\n${stringify(c)}\n`;
}
