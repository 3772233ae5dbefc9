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
import { execFile, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const RUNS = Math.min(Math.max(Number(argValue("--runs") ?? 20), 1), 100);
const POLL_MS = 5;
const STEP_LIMIT_MS = 10_000;
const DRAIN_GRACE_MS = 1000;
const FIRST_PORT = 24000;

function argValue(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

function sh(cmd, args, env = {}, timeout = 120_000) {
  return new Promise((res, rej) =>
    execFile(cmd, args, { env: { ...process.env, ...env }, timeout }, (err, stdout, stderr) =>
      err
        ? rej(new Error(`${cmd} ${args.join(" ")}: ${err.message}\n${stderr}`))
        : res(stdout.trim()),
    ),
  );
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** Connects, sends an HTTP/1.0 GET, resolves with the body ("" on any error). */
function fetchBody(host, port, timeoutMs = 500) {
  return new Promise((resolve) => {
    const chunks = [];
    const s = net.connect({ host, port });
    const t = setTimeout(() => s.destroy(), timeoutMs);
    s.on("connect", () => s.write("GET /index.html HTTP/1.0\r\n\r\n"));
    s.on("data", (c) => chunks.push(c));
    s.on("error", () => {});
    s.on("close", () => {
      clearTimeout(t);
      resolve(Buffer.concat(chunks).toString().split("\r\n\r\n")[1]?.trim() ?? "");
    });
  });
}

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

async function until(check, what) {
  const t0 = performance.now();
  for (;;) {
    if (await check()) return performance.now();
    if (performance.now() - t0 > STEP_LIMIT_MS)
      throw new Error(`no ${what} within ${STEP_LIMIT_MS} ms`);
    await sleep(POLL_MS);
  }
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

function summary(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  const r = (x) => Math.round(x * 10) / 10;
  return { n: s.length, min: r(s[0]), median: r(q(0.5)), p90: r(q(0.9)), max: r(s.at(-1)) };
}

async function main() {
  if (process.getuid?.() !== 0)
    throw new Error("run as root (the testbed needs network namespaces)");
  execFileSync(process.execPath, [join(ROOT, "lb/build.mjs")], { stdio: "inherit" });
  const dir = mkdtempSync(join(tmpdir(), "bench-labels-"));
  const env = {
    TESTBED_DIR: join(dir, "tb"),
    TESTBED_PREFIX: "glbl",
    TESTBED_NET: `10.${203 + Math.floor(Math.random() * 40)}.${Math.floor(Math.random() * 256)}`,
    TESTBED_SWARM: "0",
  };
  const scripts = join(ROOT, "scripts/testbed");
  let lb;
  try {
    await sh(join(scripts, "up.sh"), ["1"], env);
    const desc = JSON.parse(readFileSync(join(env.TESTBED_DIR, "regions.json"), "utf8"));
    const region = desc.regions[0];
    const docker = (...args) => sh("docker", ["-H", region.docker_sock, ...args]);
    const apiPort = await freePort();
    const config = join(dir, "lb.toml");
    writeFileSync(
      config,
      `[logging]
level = "warn"
[api]
enabled = true
bind = "127.0.0.1:${apiPort}"
[providers.docker]
endpoint = "${region.docker_host}"
listen_host = "127.0.0.1"
port_range = "${FIRST_PORT}-${FIRST_PORT + 999}"
drain_grace = "${DRAIN_GRACE_MS / 1000}s"
resync_interval = "1m"
`,
    );
    lb = spawn(process.execPath, [join(ROOT, "lb/dist/geoswarm-lb.cjs"), "-c", config], {
      stdio: ["ignore", "inherit", "inherit"],
    });
    await until(
      async () => (await fetch(`http://127.0.0.1:${apiPort}/ping`).catch(() => null))?.ok,
      "API",
    );
    await sleep(500); // the provider's first fetch and the event stream are up

    const add = [];
    const floor = [];
    const drain = [];
    const close = [];
    const drainFromStart = [];
    for (let i = 0; i < RUNS; i++) {
      const name = `labels-${i}`;
      const lbPort = FIRST_PORT + i;
      const published = 25000 + i;
      await docker(
        "run",
        "-d",
        "--name",
        name,
        "-l",
        `geoswarm.lb.port=${lbPort}`,
        "-l",
        "geoswarm.lb.target=80",
        "-p",
        `${published}:80`,
        desc.image,
        "sh",
        "-c",
        `echo ${name} > /www/index.html; exec httpd -f -p 80 -h /www`,
      );
      const returned = performance.now();
      const [routed, direct] = await Promise.all([
        until(async () => (await fetchBody("127.0.0.1", lbPort)) === name, "routed connection"),
        until(async () => (await fetchBody(region.ip, published)) === name, "direct answer"),
      ]);
      add.push(routed - returned);
      floor.push(direct - returned);
      const killStart = performance.now();
      await docker("kill", name);
      const killReturned = performance.now();
      let closeAt = Number.NaN;
      let closedAt = Number.NaN;
      const [drained] = await Promise.all([
        until(async () => {
          const s = await providedServer(apiPort, lbPort);
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
      await docker("rm", "-f", name);
      process.stderr.write(
        `run ${i + 1}/${RUNS}: add ${(routed - returned).toFixed(0)} ms (port answers ${(direct - returned).toFixed(0)} ms), draining ${Math.max(0, drained - killReturned).toFixed(0)} ms after kill returned, closed ${(closedAt - closeAt).toFixed(0)} ms after its announced time\n`,
      );
    }
    const engine = await docker("version", "--format", "{{.Server.Version}}");
    const result = {
      date: new Date().toISOString(),
      runs: RUNS,
      poll_ms: POLL_MS,
      drain_grace_ms: DRAIN_GRACE_MS,
      engine: `dockerd ${engine}`,
      cpus: (await sh("nproc", [])).trim(),
      add_ms: summary(add),
      port_answers_ms: summary(floor),
      drain_after_kill_returned_ms: summary(drain),
      drain_after_kill_started_ms: summary(drainFromStart),
      closed_after_announced_ms: summary(close),
    };
    writeFileSync(
      join(ROOT, "bench/results/discovery-labels-latest.json"),
      `${JSON.stringify(result, null, 2)}\n`,
    );
    const row = (label, s) =>
      `| ${label} | ${s.median.toFixed(0)} | ${s.p90.toFixed(0)} | ${s.max.toFixed(0)} | ${s.min.toFixed(0)} |`;
    console.log(
      `\n${RUNS} runs, ${result.engine}, ${result.cpus} CPUs, poll every ${POLL_MS} ms, drain_grace ${DRAIN_GRACE_MS} ms\n`,
    );
    console.log("| measurement (ms) | median | p90 | max | min |\n|---|---:|---:|---:|---:|");
    console.log(
      row("`docker run` (labelled) returned → first connection routed to it", result.add_ms),
    );
    console.log(
      row("`docker run` returned → its port answers directly (floor)", result.port_answers_ms),
    );
    console.log(
      row(
        "`docker kill` returned → server draining (no backend)",
        result.drain_after_kill_returned_ms,
      ),
    );
    console.log(row("`docker kill` started → server draining", result.drain_after_kill_started_ms));
    console.log(
      row(
        `announced close (\`draining_until\`, drain_grace ${DRAIN_GRACE_MS} ms) → listener closed`,
        result.closed_after_announced_ms,
      ),
    );
  } finally {
    if (lb && lb.exitCode === null) {
      lb.kill("SIGTERM");
      await new Promise((r) => lb.once("exit", r));
    }
    await sh(join(scripts, "down.sh"), [], env).catch((e) => process.stderr.write(`${e}\n`));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exitCode = 1;
});
