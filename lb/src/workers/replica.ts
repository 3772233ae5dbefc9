// A data-plane worker thread (`workers > 1`): runs copies of the main thread's TCP servers on the
// same addresses (SO_REUSEPORT), with the backend lists the main thread publishes and the
// election counters it shares. No discovery, healthchecks, API or state here.
import { parentPort } from "node:worker_threads";
import { Server } from "../core/server";
import { SharedCounters } from "../core/shared-counters";
import { createLogger } from "../log/logger";
import {
  DRAIN_UNBOUNDED,
  type FromWorker,
  type ServerTotals,
  type ToWorker,
  type WorkerInit,
} from "./protocol";

export function runReplica(init: WorkerInit): void {
  const port = parentPort;
  if (!port) throw new Error("runReplica must run in a worker thread");
  const log = createLogger(init.logging).child({ worker: init.index });
  const servers = new Map<number, Server>();
  const reply = (msg: FromWorker): void => port.postMessage(msg);

  const handle = async (msg: ToWorker): Promise<void> => {
    switch (msg.t) {
      case "server": {
        try {
          const bind = { host: msg.host, port: msg.port };
          const existing = servers.get(msg.id);
          if (existing) {
            await existing.update(msg.config, bind);
          } else {
            const server = new Server(
              msg.name,
              msg.config,
              log.child({ component: "server", server: msg.name }),
              { shared: { counters: new SharedCounters(msg.counters) }, replica: bind },
            );
            await server.start();
            servers.set(msg.id, server);
          }
          reply({ t: "done", request: msg.request });
        } catch (err) {
          reply({ t: "done", request: msg.request, error: (err as Error).message });
        }
        return;
      }
      case "backends":
        servers.get(msg.id)?.table.replace(msg.list);
        reply({ t: "applied", version: msg.version });
        return;
      case "stop": {
        const server = servers.get(msg.id);
        servers.delete(msg.id);
        const unbounded = msg.graceMs === DRAIN_UNBOUNDED;
        // Draining takes up to the grace period; later messages must not wait for it.
        const stopped = server?.stop(unbounded ? Number.POSITIVE_INFINITY : msg.graceMs);
        if (unbounded) {
          // The listener closed at once; the connections end on their own.
          void stopped?.catch((err: Error) => log.error({ err: err.message }, "drain failed"));
          reply({ t: "done", request: msg.request });
          return;
        }
        void (stopped ?? Promise.resolve()).then(
          () => reply({ t: "done", request: msg.request }),
          (err: Error) => reply({ t: "done", request: msg.request, error: err.message }),
        );
        return;
      }
      case "close-backend": {
        const closed = servers.get(msg.id)?.closeBackendConnections(msg.key) ?? 0;
        reply({ t: "done", request: msg.request, closed });
        return;
      }
      case "totals": {
        const out: Record<number, ServerTotals> = {};
        for (const [id, server] of servers) {
          const backends: ServerTotals["backends"] = {};
          for (const b of server.table.backends) {
            backends[`${b.key}#${b.slot}`] = [
              b.totalConnections,
              b.refusedConnections,
              b.rxBytes,
              b.txBytes,
            ];
          }
          out[id] = {
            rx: server.counters.rxTotal,
            tx: server.counters.txTotal,
            active: server.counters.activeConnections,
            backends,
          };
        }
        reply({ t: "totals", request: msg.request, servers: out });
        return;
      }
    }
  };

  // One message at a time: a server's backend list must not overtake its creation.
  let queue = Promise.resolve();
  port.on("message", (msg: ToWorker) => {
    queue = queue.then(() => handle(msg));
  });
  reply({ t: "ready" });
}
