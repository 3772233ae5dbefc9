// Shared helpers of the discovery tests: a logger that records what it logged, a runner started
// from TOML through the real validator, and a bounded wait.

import pino from "pino";
import { parseConfigText, validateConfig } from "../../../../lb/src/config";
import type { BackendSpec, DiscoveryConfig } from "../../../../lb/src/config/types";
import { createDiscovery } from "../../../../lb/src/discovery";
import type { DiscoveryRunner } from "../../../../lb/src/discovery/runner";
import type { Logger } from "../../../../lb/src/log/logger";
import { waitFor as sharedWaitFor } from "../../support/net";

export interface LogRecord {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export function recordingLogger(): { log: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const log = pino(
    { level: "trace" },
    { write: (line: string) => void records.push(JSON.parse(line) as LogRecord) },
  );
  return { log, records };
}

/** A validated discovery section from the body of a [servers.s.discovery] table. */
export function discoveryConfig(body: string): DiscoveryConfig {
  const toml = `[servers.s]\nbind = "127.0.0.1:0"\n[servers.s.discovery]\n${body}\n`;
  const { config } = validateConfig(parseConfigText(toml, "toml", { envSubst: false }));
  return config.servers.s.discovery;
}

export interface Started {
  runner: DiscoveryRunner;
  updates: BackendSpec[][];
  /** The last published list as sorted "host:port" strings. */
  current(): string[] | undefined;
  records: LogRecord[];
  stop(): void;
}

export function startDiscovery(body: string): Started {
  const cfg = discoveryConfig(body);
  const { log, records } = recordingLogger();
  const updates: BackendSpec[][] = [];
  const runner = createDiscovery(cfg, (b) => updates.push(b), log);
  runner.start();
  return {
    runner,
    updates,
    records,
    current: () => {
      const last = updates.at(-1);
      return last?.map((b) => `${b.host}:${b.port}`).sort();
    },
    stop: () => runner.stop(),
  };
}

/** The shared waitFor (support/net.ts), polling every 10 ms, with `what` before the limit. */
export function waitFor(check: () => boolean, what: string, ms = 5000): Promise<number> {
  return sharedWaitFor(check, ms, what, 10);
}

export { sleep } from "../../support/net";

export function toml(s: string): string {
  return JSON.stringify(s);
}
