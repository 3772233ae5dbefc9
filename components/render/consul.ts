// Consul agent configuration (JSON) for the servers and the balancer's client agent, plus a
// schema of the keys we emit so tests catch typos and type mistakes without a consul binary.
import { z } from "zod";

export const CONSUL_CONFIG_FILE = "/etc/consul.d/geoswarm.json";
export const CONSUL_DATA_DIR = "/opt/consul";
/** The balancer serves the cluster's :8500, so its local agent's HTTP API moves here (loopback only). */
export const LOCAL_AGENT_HTTP_PORT = 18500;

const ipv4 = z.string().regex(/^(\d{1,3}\.){3}\d{1,3}$/);

/** The subset of https://developer.hashicorp.com/consul/docs/reference/agent/configuration-file we use. */
export const consulConfigSchema = z
  .strictObject({
    datacenter: z.string().regex(/^[a-z0-9_-]+$/),
    node_name: z.string().regex(/^[A-Za-z0-9-]+$/),
    server: z.boolean(),
    bootstrap_expect: z.number().int().min(1).optional(),
    data_dir: z.string().startsWith("/"),
    bind_addr: ipv4,
    advertise_addr: ipv4,
    client_addr: ipv4,
    addresses: z.strictObject({ http: ipv4 }).optional(),
    ports: z.strictObject({ http: z.number().int(), dns: z.number().int() }).partial().optional(),
    retry_join: z.array(ipv4).min(1),
    retry_interval: z.string().regex(/^\d+(s|m)$/),
    encrypt: z.string().regex(/^[A-Za-z0-9+/]{43}=$/, "must be 32 bytes, base64"),
    encrypt_verify_incoming: z.boolean(),
    encrypt_verify_outgoing: z.boolean(),
    ui_config: z.strictObject({ enabled: z.boolean() }).optional(),
    log_level: z.enum(["TRACE", "DEBUG", "INFO", "WARN", "ERR"]),
    leave_on_terminate: z.boolean(),
    rejoin_after_leave: z.boolean(),
    disable_update_check: z.boolean(),
  })
  .refine((c) => c.server || c.bootstrap_expect === undefined, {
    message: "bootstrap_expect is only valid on servers",
    path: ["bootstrap_expect"],
  })
  .refine((c) => !c.server || c.bootstrap_expect !== undefined, {
    message: "servers need bootstrap_expect (no manual bootstrap)",
    path: ["bootstrap_expect"],
  })
  .refine((c) => !c.retry_join.includes(c.advertise_addr), {
    message: "an agent must not retry_join itself",
    path: ["retry_join"],
  });

export type ConsulConfig = z.infer<typeof consulConfigSchema>;

interface Common {
  datacenter: string;
  nodeName: string;
  /** This agent's Elastic IP: the address other agents reach it on (the NIC has only a private IP). */
  advertiseIp: string;
  /** Elastic IPs of the Consul servers. */
  serverIps: string[];
  /** 32 random bytes, base64. */
  gossipKey: string;
}

function common(c: Common): Omit<ConsulConfig, "server" | "client_addr"> {
  return {
    datacenter: c.datacenter,
    node_name: c.nodeName,
    data_dir: CONSUL_DATA_DIR,
    bind_addr: "0.0.0.0",
    advertise_addr: c.advertiseIp,
    retry_join: c.serverIps.filter((ip) => ip !== c.advertiseIp),
    retry_interval: "10s",
    encrypt: c.gossipKey,
    encrypt_verify_incoming: true,
    encrypt_verify_outgoing: true,
    log_level: "INFO",
    leave_on_terminate: false,
    rejoin_after_leave: true,
    disable_update_check: true,
  };
}

/**
 * A server: `bootstrap_expect` = the number of servers and `retry_join` on the other servers'
 * EIPs replace the article's bootstrap/start_join/restart sequence; the UI is on.
 */
export function consulServerConfig(c: Common): ConsulConfig {
  return {
    ...common(c),
    server: true,
    bootstrap_expect: c.serverIps.length,
    client_addr: "0.0.0.0",
    ui_config: { enabled: true },
  };
}

/** The balancer host's client agent: HTTP API on loopback only, away from the LB's :8500. */
export function consulClientConfig(c: Common): ConsulConfig {
  return {
    ...common(c),
    server: false,
    client_addr: "127.0.0.1",
    addresses: { http: "127.0.0.1" },
    ports: { http: LOCAL_AGENT_HTTP_PORT, dns: -1 },
  };
}

export const renderConsulConfig = (c: ConsulConfig): string => `${JSON.stringify(c, null, 2)}\n`;
