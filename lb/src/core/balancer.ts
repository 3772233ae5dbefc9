// The running balancer: every configured server, started together and stopped together.
import { parseDuration } from "../config";
import type { LbConfig } from "../config/types";
import type { Logger } from "../log/logger";
import { Server } from "./server";

export class Balancer {
  readonly servers = new Map<string, Server>();
  readonly startTime = new Date();

  constructor(
    readonly config: LbConfig,
    private readonly log: Logger,
  ) {}

  /** Starts every server; if one fails, the ones already started are stopped and it rejects. */
  async start(): Promise<void> {
    for (const [name, cfg] of Object.entries(this.config.servers)) {
      const server = new Server(name, cfg, this.log.child({ component: "server", server: name }));
      try {
        await server.start();
      } catch (err) {
        await this.stop(0);
        throw new Error(`servers.${name}: cannot start: ${(err as Error).message}`);
      }
      this.servers.set(name, server);
    }
  }

  /** Stops accepting everywhere, waits up to `graceMs` for connections, then closes them. */
  async stop(graceMs = parseDuration(this.config.shutdown.grace_period)): Promise<void> {
    await Promise.all([...this.servers.values()].map((s) => s.stop(graceMs)));
  }
}
