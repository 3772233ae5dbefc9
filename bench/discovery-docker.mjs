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

async function until(check, what) {
  const t0 = performance.now();
  for (;;) {
    if (await check()) return performance.now();
    if (performance.now() - t0 > STEP_LIMIT_MS)
      throw new Error(`no ${what} within ${STEP_LIMIT_MS} ms`);
    await sleep(POLL_MS);
  }
}

async function inRotation(apiPort, key) {
  try {
    const res = await fetch(`http://127.0.0.1:${apiPort}/servers/web/stats`);
    const stats = await res.json();
    return stats.backends.some((b) => `${b.host}:${b.port}` === key && b.stats.discovered);
  } catch {
    return false;
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
  const dir = mkdtempSync(join(tmpdir(), "bench-discovery-"));
  const env = {
    TESTBED_DIR: join(dir, "tb"),
    TESTBED_PREFIX: "gbench",
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
    const [lbPort, apiPort] = [await freePort(), await freePort()];
    const config = join(dir, "lb.toml");
    writeFileSync(
      config,
      `[logging]
level = "warn"
[api]
enabled = true
bind = "127.0.0.1:${apiPort}"
[servers.web]
bind = "127.0.0.1:${lbPort}"
[servers.web.discovery]
kind = "docker"
docker_endpoint = "${region.docker_host}"
docker_container_label = "bench=web"
docker_container_private_port = 80
interval = "1m"
`,
    );
    lb = spawn(process.execPath, [join(ROOT, "lb/dist/geoswarm-lb.cjs"), "-c", config], {
      stdio: ["ignore", "inherit", "inherit"],
    });
    await until(
      async () => (await fetch(`http://127.0.0.1:${apiPort}/ping`).catch(() => null))?.ok,
      "API",
    );
    await sleep(500); // discovery's first fetch and the event stream are up

    const add = [];
    const floor = [];
    const removeFromReturn = [];
    const removeFromStart = [];
    for (let i = 0; i < RUNS; i++) {
      const name = `bench-${i}`;
      const port = 23000 + i;
      const key = `${region.ip}:${port}`;
      await docker(
        "run",
        "-d",
        "--name",
        name,
        "-l",
        "bench=web",
        "-p",
        `${port}:80`,
        desc.image,
        "sh",
        "-c",
        `echo ${name} > /www/index.html; exec httpd -f -p 80 -h /www`,
      );
      const returned = performance.now();
      const [routed, direct] = await Promise.all([
        until(async () => (await fetchBody("127.0.0.1", lbPort)) === name, "routed connection"),
        until(async () => (await fetchBody(region.ip, port)) === name, "direct answer"),
      ]);
      add.push(routed - returned);
      floor.push(direct - returned);
      const killStart = performance.now();
      await docker("kill", name);
      const killReturned = performance.now();
      const gone = await until(async () => !(await inRotation(apiPort, key)), "removal");
      removeFromReturn.push(Math.max(0, gone - killReturned));
      removeFromStart.push(gone - killStart);
      await docker("rm", "-f", name);
      process.stderr.write(
        `run ${i + 1}/${RUNS}: add ${(routed - returned).toFixed(0)} ms (port answers ${(direct - returned).toFixed(0)} ms), remove ${Math.max(0, gone - killReturned).toFixed(0)} ms after kill returned\n`,
      );
    }
    const engine = await docker("version", "--format", "{{.Server.Version}}");
    const result = {
      date: new Date().toISOString(),
      runs: RUNS,
      poll_ms: POLL_MS,
      engine: `dockerd ${engine}`,
      cpus: (await sh("nproc", [])).trim(),
      add_ms: summary(add),
      port_answers_ms: summary(floor),
      remove_after_kill_returned_ms: summary(removeFromReturn),
      remove_after_kill_started_ms: summary(removeFromStart),
    };
    writeFileSync(
      join(ROOT, "bench/results/discovery-docker-latest.json"),
      `${JSON.stringify(result, null, 2)}\n`,
    );
    const row = (label, s) =>
      `| ${label} | ${s.median.toFixed(0)} | ${s.p90.toFixed(0)} | ${s.max.toFixed(0)} | ${s.min.toFixed(0)} |`;
    console.log(
      `\n${RUNS} runs, ${result.engine}, ${result.cpus} CPUs, poll every ${POLL_MS} ms\n`,
    );
    console.log("| measurement (ms) | median | p90 | max | min |\n|---|---:|---:|---:|---:|");
    console.log(row("`docker run` returned → first connection routed to it", result.add_ms));
    console.log(
      row("`docker run` returned → its port answers directly (floor)", result.port_answers_ms),
    );
    console.log(
      row("`docker kill` returned → out of rotation", result.remove_after_kill_returned_ms),
    );
    console.log(
      row("`docker kill` started → out of rotation", result.remove_after_kill_started_ms),
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
