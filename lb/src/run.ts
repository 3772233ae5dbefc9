// Starts everything a configuration asks for: the servers, the REST API and the metrics
// endpoint. Used by the CLI and by tests that need the whole balancer in-process.
import type { Server as HttpServer } from "node:http";
import type { FastifyInstance } from "fastify";
import { buildApi } from "./api/app";
import { joinHostPort } from "./config";
import type { ConfigSource, LbConfig } from "./config/types";
import { nodeSupportsWorkers } from "./config/workers";
import { Balancer } from "./core/balancer";
import { splitBind } from "./core/server";
import type { Logger } from "./log/logger";
import { DockerLabelsProvider, ORIGIN } from "./providers/docker-labels/provider";
import { createMetricsRegistry, startMetricsServer } from "./stats/metrics";
import { WorkerPool } from "./workers/pool";

export interface RunningLb {
  balancer: Balancer;
  api?: FastifyInstance;
  metrics?: HttpServer;
  /** "host:port" the API listens on, when enabled. */
  apiAddress?: string;
  metricsAddress?: string;
  /** The docker-labels provider, when [providers.docker] is set. */
  labels?: DockerLabelsProvider;
  /** Drains servers for `graceMs` (default: [shutdown] grace_period), closes the API and metrics. */
  stop(graceMs?: number): Promise<void>;
}

function addressOf(a: string | { address: string; port: number } | null): string {
  if (!a || typeof a === "string") return String(a);
  return joinHostPort(a.address, a.port);
}

export async function runLb(
  config: LbConfig,
  log: Logger,
  opts: {
    source?: ConfigSource;
    envSubst?: boolean;
    /** The geoswarm-lb bundle, which worker threads run (`workers > 1`). */
    workerEntry?: string;
  } = {},
): Promise<RunningLb> {
  const workers = await startWorkers(config, log, opts.workerEntry);
  const balancer = new Balancer(config, log, { ...opts, workers });
  try {
    await balancer.start();
  } catch (err) {
    await workers?.close();
    throw err;
  }
  const running: RunningLb = {
    balancer,
    async stop(graceMs?: number) {
      await running.labels?.stop();
      await running.api?.close();
      running.metrics?.close();
      await balancer.stop(graceMs);
      await workers?.close();
    },
  };
  try {
    if (config.api.enabled) {
      const { host, port } = splitBind(config.api.bind);
      running.api = await buildApi(balancer, config.api, log);
      await running.api.listen({ host: host || "::", port });
      running.apiAddress = addressOf(running.api.server.address());
      log.info({ bind: running.apiAddress, tls: Boolean(config.api.tls) }, "api listening");
    }
    if (config.metrics.enabled) {
      const { host, port } = splitBind(config.metrics.bind);
      const syncStats = (): Promise<void> =>
        balancer.syncStats().catch((err: Error) => {
          log.warn({ err: err.message }, "worker totals not collected; scraping older ones");
        });
      running.metrics = await startMetricsServer(
        createMetricsRegistry(balancer),
        host,
        port,
        syncStats,
        config.metrics.basic_auth,
      );
      running.metricsAddress = addressOf(running.metrics.address());
      log.info({ bind: running.metricsAddress }, "metrics listening");
    }
    // After the API and metrics listen: the ports they hold are then refused to labels.
    const docker = config.providers.docker;
    if (docker) {
      running.labels = new DockerLabelsProvider(
        docker,
        balancer,
        log.child({ component: "provider", provider: ORIGIN }),
      );
      balancer.providers.set(ORIGIN, running.labels);
      running.labels.start();
      log.info(
        { endpoint: docker.endpoint, port_range: docker.port_range },
        "docker labels provider started",
      );
    }
  } catch (err) {
    await running.stop(0);
    throw err;
  }
  return running;
}

async function startWorkers(
  config: LbConfig,
  log: Logger,
  entry: string | undefined,
): Promise<WorkerPool | undefined> {
  if (config.workers <= 1) return undefined;
  if (!nodeSupportsWorkers(process.versions.node)) {
    throw new Error(
      `workers = ${config.workers} needs Node.js >= 22.12 (listeners shared with SO_REUSEPORT); this is Node.js ${process.version}`,
    );
  }
  if (!entry) throw new Error(`workers = ${config.workers} needs the built geoswarm-lb bundle`);
  return WorkerPool.start(config.workers - 1, entry, config.logging, log);
}
