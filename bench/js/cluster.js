// Bench-only stand-in for a `workers = N` mode: N copies of the geoswarm-lb artifact under
// node:cluster with SCHED_NONE, i.e. every worker calls accept() on the shared listeners itself
// (no round-robin through the primary). Workers do not share state: leastconn, max_connections
// and stats are per worker, so this measures the upper bound of what such a mode could gain.
// usage: node cluster.js N ARTIFACT -c CONFIG
const cluster = require("node:cluster");
const [n, artifact, ...args] = process.argv.slice(2);
cluster.schedulingPolicy = cluster.SCHED_NONE;
cluster.setupPrimary({ exec: artifact, args });
for (let i = 0; i < Number(n); i++) cluster.fork();
let stopping = false;
const stop = () => {
  stopping = true;
  for (const w of Object.values(cluster.workers)) w.process.kill("SIGTERM");
  setTimeout(() => process.exit(0), 10_000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
cluster.on("exit", () => {
  if (Object.keys(cluster.workers).length === 0) process.exit(stopping ? 0 : 1);
});
