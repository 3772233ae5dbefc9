// Starts a real in-process Balancer from TOML text, the same path the CLI takes after loading.
import { parseConfigText, validateConfig } from "../../../lb/src/config";
import { Balancer } from "../../../lb/src/core/balancer";
import type { Server } from "../../../lb/src/core/server";
import { silentLogger } from "../../../lb/src/log/logger";

export interface RunningBalancer {
  balancer: Balancer;
  server(name: string): Server;
  /** Port the named server actually bound (configs use port 0). */
  port(name: string): number;
  stop(graceMs?: number): Promise<void>;
}

export async function startBalancer(toml: string): Promise<RunningBalancer> {
  const { config } = validateConfig(parseConfigText(toml, "toml", { envSubst: false }));
  const balancer = new Balancer(config, silentLogger());
  await balancer.start();
  const server = (name: string): Server => {
    const s = balancer.servers.get(name);
    if (!s) throw new Error(`no server ${name}`);
    return s;
  };
  return {
    balancer,
    server,
    port: (name) => Number(server(name).boundAddress().split(":").pop()),
    stop: (graceMs = 0) => balancer.stop(graceMs),
  };
}

/**
 * TOML for one server `web` on an ephemeral loopback port, relaying to the static backend
 * 127.0.0.1:`backend`; `extra` is inserted into `[servers.web]`.
 */
export function staticWebConfig(backend: number, extra = ""): string {
  return `
[servers.web]
bind = "127.0.0.1:0"
${extra}
[servers.web.discovery]
kind = "static"
static_list = ["127.0.0.1:${backend}"]
`;
}
