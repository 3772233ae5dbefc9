#!/usr/bin/env node
// Docker discovery latency: how fast the shipped balancer (lb/dist/geoswarm-lb.cjs, run as its own
// process) follows a real dockerd through the event stream.
//   add:    from `docker run -d` returning to the first connection the balancer routes to the new
//           container (a client connects every 5 ms and reads which container answered);
//   remove: from `docker kill` returning to the container's removal from rotation, read from the
//           balancer's REST API (GET /servers/web/stats, backend gone or discovered=false) every
//           5 ms; the same from the moment `docker kill` was started.
//   floor:  from `docker run -d` returning until the container's published port itself answers
//           (no balancer involved): what no discovery can beat.
// The engine is one dockerd of scripts/testbed in its own network namespace (unique prefix, subnet
// and directory, torn down at the end); the balancer's resync interval is 1 minute, so only events
// can explain sub-second numbers.
//
// usage: node bench/discovery-docker.mjs [--runs N]      (root; docker.io, iproute2, iptables)
// Prints a Markdown table and writes bench/results/discovery-docker-latest.json.
import {
  freePort,
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

async function inRotation(apiPort, key) {
  try {
    const res = await fetch(`http://127.0.0.1:${apiPort}/servers/web/stats`);
    const stats = await res.json();
    return stats.backends.some((b) => `${b.host}:${b.port}` === key && b.stats.discovered);
  } catch {
    return false;
  }
}

async function main() {
  const lbPort = await freePort();
  const config = ({ region }) => `[servers.web]
bind = "127.0.0.1:${lbPort}"
[servers.web.discovery]
kind = "docker"
docker_endpoint = "${region.docker_host}"
docker_container_label = "bench=web"
docker_container_private_port = 80
interval = "1m"
`;
  await withPickupBed({ prefix: "gbench", config }, async (bed) => {
    const add = [];
    const floor = [];
    const removeFromReturn = [];
    const removeFromStart = [];
    for (let i = 0; i < RUNS; i++) {
      const name = `bench-${i}`;
      const port = 23000 + i;
      const key = `${bed.region.ip}:${port}`;
      const up = await startAndPickUp(bed, {
        name,
        labels: ["bench=web"],
        published: port,
        lbPort,
      });
      add.push(up.add);
      floor.push(up.floor);
      const killStart = performance.now();
      await bed.docker("kill", name);
      const killReturned = performance.now();
      const gone = await until(async () => !(await inRotation(bed.apiPort, key)), "removal");
      removeFromReturn.push(Math.max(0, gone - killReturned));
      removeFromStart.push(gone - killStart);
      await bed.docker("rm", "-f", name);
      process.stderr.write(
        `run ${i + 1}/${RUNS}: add ${up.add.toFixed(0)} ms (port answers ${up.floor.toFixed(0)} ms), remove ${Math.max(0, gone - killReturned).toFixed(0)} ms after kill returned\n`,
      );
    }
    const result = {
      ...(await resultHead(bed, RUNS)),
      add_ms: summary(add),
      port_answers_ms: summary(floor),
      remove_after_kill_returned_ms: summary(removeFromReturn),
      remove_after_kill_started_ms: summary(removeFromStart),
    };
    report(
      "discovery-docker",
      result,
      `${RUNS} runs, ${result.engine}, ${result.cpus} CPUs, poll every ${POLL_MS} ms`,
      [
        ["`docker run` returned → first connection routed to it", result.add_ms],
        ["`docker run` returned → its port answers directly (floor)", result.port_answers_ms],
        ["`docker kill` returned → out of rotation", result.remove_after_kill_returned_ms],
        ["`docker kill` started → out of rotation", result.remove_after_kill_started_ms],
      ],
    );
  });
}

run(main);
