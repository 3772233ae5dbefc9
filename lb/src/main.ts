// geoswarm-lb command line: load and validate the config, then run every server until
// SIGTERM/SIGINT, which drains connections for the configured grace period and exits 0.
import { writeFileSync } from "node:fs";
import { isMainThread, workerData } from "node:worker_threads";
import { parseCliArgs, USAGE } from "./cli-args";
import { ConfigError, loadConfig, summarizeConfig } from "./config";
import { createLogger } from "./log/logger";
import { type RunningLb, runLb } from "./run";
import { VERSION } from "./version";
import { isWorkerInit } from "./workers/protocol";
import { runReplica } from "./workers/replica";

/** Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad config. */
async function main(argv: string[]): Promise<number> {
  const cmd = parseCliArgs(argv);
  switch (cmd.kind) {
    case "help":
      process.stdout.write(USAGE);
      return 0;
    case "version":
      process.stdout.write(`geoswarm-lb ${VERSION}\n`);
      return 0;
    case "error":
      process.stderr.write(`geoswarm-lb: ${cmd.message}\n\n${USAGE}`);
      return 2;
  }

  let loaded: Awaited<ReturnType<typeof loadConfig>>;
  try {
    loaded = await loadConfig(cmd.source, { envSubst: cmd.envSubst });
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const w of err.warnings) process.stderr.write(`geoswarm-lb: warning: ${w}\n`);
      process.stderr.write(
        `geoswarm-lb: invalid configuration:\n${err.problems.map((p) => `  ${p}\n`).join("")}`,
      );
    } else {
      process.stderr.write(`geoswarm-lb: cannot load configuration: ${(err as Error).message}\n`);
    }
    return 2;
  }
  for (const warning of loaded.warnings) process.stderr.write(`geoswarm-lb: warning: ${warning}\n`);

  if (cmd.check) {
    process.stdout.write(summarizeConfig(loaded.config));
    process.stdout.write("configuration OK\n");
    return 0;
  }

  const log = createLogger(loaded.config.logging);
  if (cmd.pidfile) writeFileSync(cmd.pidfile, String(process.pid), { mode: 0o644 });
  let lb: RunningLb;
  try {
    lb = await runLb(loaded.config, log, {
      source: cmd.source,
      envSubst: cmd.envSubst,
      // The bundle itself: worker threads start from it (workers/replica.ts).
      workerEntry: __filename,
    });
  } catch (err) {
    log.fatal({ err: (err as Error).message }, "startup failed");
    return 1;
  }
  log.info({ version: VERSION, servers: lb.balancer.servers.size }, "geoswarm-lb started");

  process.on("SIGHUP", () => {
    log.info("SIGHUP: reloading configuration");
    lb.balancer.reload().catch((err: Error & { problems?: string[] }) => {
      log.error(
        { err: err.message, problems: err.problems },
        "reload failed; running configuration kept",
      );
    });
  });

  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log.warn({ signal }, "second signal, exiting now");
        resolve(0);
        return;
      }
      stopping = true;
      log.info(
        { signal, grace_period: loaded.config.shutdown.grace_period },
        "shutting down: draining connections",
      );
      lb.stop().then(
        () => {
          log.info("shutdown complete");
          resolve(0);
        },
        (err) => {
          log.error({ err: (err as Error).message }, "shutdown failed");
          resolve(1);
        },
      );
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}

if (!isMainThread && isWorkerInit(workerData)) {
  runReplica(workerData);
} else {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`geoswarm-lb: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
}
