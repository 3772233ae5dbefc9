#!/usr/bin/env node
// Entry points from container labels: how fast the shipped balancer (lb/dist/geoswarm-lb.cjs, run
// as its own process with `[providers.docker]`) turns a labelled container into a served port, and
// a removed one into a drained, then closed, listener, against a real dockerd.
//   add:    from `docker run -d -l geoswarm.lb.port=P ...` returning to the first connection on
//           port P that the balancer routes to the new container (a client connects every 5 ms
//           and reads which container answered); each run uses a new port, so every add opens a
//           new listener;
//   drain:  from `docker kill` returning to the server draining (GET /providers: no backend left,
//           `draining_until` set), polled every 5 ms;
//   close:  the listener refusing connections, against the time GET /providers announced for
//           it (`draining_until`, drain_grace = 1 s after the drain began): the grace timer's
//           precision. The engine emits `die` before `docker kill` returns, so the drain (and its
//           grace) begins before the CLI returns; "kill started" includes the CLI's round trip.
//   floor:  from `docker run -d` returning until the container's published port itself answers.
// The engine is one dockerd of scripts/testbed in its own network namespace (unique prefix, subnet
// and directory, torn down at the end); the provider's resync interval is 1 minute, so only
// events can explain sub-second numbers.
//
// usage: node bench/discovery-labels.mjs [--runs N]      (root; docker.io, iproute2, iptables)
// Prints a Markdown table and writes bench/results/discovery-labels-latest.json.
import net from "node:net";
import {
  POLL_MS,
  report,
  resultHead,
  run,
  runsArg,
  startAndPickUp,
  summary,
  until,
  withPickupBed,
} from "./lib/pickup.mjs";

const RUNS = runsArg();
const DRAIN_GRACE_MS = 1000;
const FIRST_PORT = 24000;

/** True when nothing listens on host:port any more (the connection is refused). */
function refused(host, port) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.on("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.on("error", (e) => resolve(e.code === "ECONNREFUSED"));
  });
}

/** The provider's server on `port` as GET /providers shows it, or undefined. */
async function providedServer(apiPort, port) {
  try {
    const res = await fetch(`http://127.0.0.1:${apiPort}/providers`);
    const body = await res.json();
    return body.docker?.servers?.find((s) => s.port === port);
  } catch {
    return undefined;
  }
}

async function main() {
  const config = ({ region }) => `[providers.docker]
endpoint = "${region.docker_host}"
listen_host = "127.0.0.1"
port_range = "${FIRST_PORT}-${FIRST_PORT + 999}"
drain_grace = "${DRAIN_GRACE_MS / 1000}s"
resync_interval = "1m"
`;
  await withPickupBed({ prefix: "glbl", config }, async (bed) => {
    const add = [];
    const floor = [];
    const drain = [];
    const close = [];
    const drainFromStart = [];
    for (let i = 0; i < RUNS; i++) {
      const name = `labels-${i}`;
      const lbPort = FIRST_PORT + i;
      const up = await startAndPickUp(bed, {
        name,
        labels: [`geoswarm.lb.port=${lbPort}`, "geoswarm.lb.target=80"],
        published: 25000 + i,
        lbPort,
      });
      add.push(up.add);
      floor.push(up.floor);
      const killStart = performance.now();
      await bed.docker("kill", name);
      const killReturned = performance.now();
      let closeAt = Number.NaN;
      let closedAt = Number.NaN;
      const [drained] = await Promise.all([
        until(async () => {
          const s = await providedServer(bed.apiPort, lbPort);
          if (s?.backends === 0 && s.draining_until) closeAt = Date.parse(s.draining_until);
          return Number.isFinite(closeAt);
        }, "drain"),
        until(async () => {
          const gone = await refused("127.0.0.1", lbPort);
          if (gone) closedAt = Date.now();
          return gone;
        }, "closed listener"),
      ]);
      drain.push(Math.max(0, drained - killReturned));
      drainFromStart.push(drained - killStart);
      close.push(closedAt - closeAt);
      await bed.docker("rm", "-f", name);
      process.stderr.write(
        `run ${i + 1}/${RUNS}: add ${up.add.toFixed(0)} ms (port answers ${up.floor.toFixed(0)} ms), draining ${Math.max(0, drained - killReturned).toFixed(0)} ms after kill returned, closed ${(closedAt - closeAt).toFixed(0)} ms after its announced time\n`,
      );
    }
    const head = await resultHead(bed, RUNS);
    const result = {
      ...head,
      drain_grace_ms: DRAIN_GRACE_MS,
      add_ms: summary(add),
      port_answers_ms: summary(floor),
      drain_after_kill_returned_ms: summary(drain),
      drain_after_kill_started_ms: summary(drainFromStart),
      closed_after_announced_ms: summary(close),
    };
    report(
      "discovery-labels",
      result,
      `${RUNS} runs, ${result.engine}, ${result.cpus} CPUs, poll every ${POLL_MS} ms, drain_grace ${DRAIN_GRACE_MS} ms`,
      [
        ["`docker run` (labelled) returned → first connection routed to it", result.add_ms],
        ["`docker run` returned → its port answers directly (floor)", result.port_answers_ms],
        [
          "`docker kill` returned → server draining (no backend)",
          result.drain_after_kill_returned_ms,
        ],
        ["`docker kill` started → server draining", result.drain_after_kill_started_ms],
        [
          `announced close (\`draining_until\`, drain_grace ${DRAIN_GRACE_MS} ms) → listener closed`,
          result.closed_after_announced_ms,
        ],
      ],
    );
  });
}

run(main);
