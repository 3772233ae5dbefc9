// What the pickup benchmarks (discovery-docker.mjs, discovery-labels.mjs) share: one dockerd of
// scripts/testbed in its own network namespace, the shipped balancer (lb/dist/geoswarm-lb.cjs) as
// its own process, the 5 ms probes and the result's summary and table. Each benchmark brings only
// its balancer config and what it measures.
import { execFile, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const POLL_MS = 5;
const STEP_LIMIT_MS = 10_000;

/** `--runs N` from the command line, clamped to 1..100 (default 20). */
export function runsArg() {
  const i = process.argv.indexOf("--runs");
  const value = i > 0 ? process.argv[i + 1] : undefined;
  return Math.min(Math.max(Number(value ?? 20), 1), 100);
}

export function sh(cmd, args, env = {}, timeout = 120_000) {
  return new Promise((res, rej) =>
    execFile(cmd, args, { env: { ...process.env, ...env }, timeout }, (err, stdout, stderr) =>
      err
        ? rej(new Error(`${cmd} ${args.join(" ")}: ${err.message}\n${stderr}`))
        : res(stdout.trim()),
    ),
  );
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** Connects, sends an HTTP/1.0 GET, resolves with the body ("" on any error). */
export function fetchBody(host, port, timeoutMs = 500) {
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

/** Polls `check` every POLL_MS; resolves with the time it first held, throws after 10 s. */
export async function until(check, what) {
  const t0 = performance.now();
  for (;;) {
    if (await check()) return performance.now();
    if (performance.now() - t0 > STEP_LIMIT_MS)
      throw new Error(`no ${what} within ${STEP_LIMIT_MS} ms`);
    await sleep(POLL_MS);
  }
}

export function summary(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  const r = (x) => Math.round(x * 10) / 10;
  return { n: s.length, min: r(s[0]), median: r(q(0.5)), p90: r(q(0.9)), max: r(s.at(-1)) };
}

/**
 * Starts an httpd container answering its own name on `published`, then waits for both the
 * balancer (`lbPort` on loopback) and the published port to answer it.
 * Returns { add, floor }: ms from `docker run` returning to each answer.
 */
export async function startAndPickUp(bed, { name, labels, published, lbPort }) {
  await bed.docker(
    "run",
    "-d",
    "--name",
    name,
    ...labels.flatMap((l) => ["-l", l]),
    "-p",
    `${published}:80`,
    bed.image,
    "sh",
    "-c",
    `echo ${name} > /www/index.html; exec httpd -f -p 80 -h /www`,
  );
  const returned = performance.now();
  const [routed, direct] = await Promise.all([
    until(async () => (await fetchBody("127.0.0.1", lbPort)) === name, "routed connection"),
    until(async () => (await fetchBody(bed.region.ip, published)) === name, "direct answer"),
  ]);
  return { add: routed - returned, floor: direct - returned };
}

/**
 * Brings up a one-region testbed (network prefix `prefix`), starts the balancer with the config
 * `config({ region, apiPort })` returns, waits for its API and runs `measure(bed)`; tears all of
 * it down afterwards, also on failure.
 */
export async function withPickupBed({ prefix, config }, measure) {
  if (process.getuid?.() !== 0)
    throw new Error("run as root (the testbed needs network namespaces)");
  execFileSync(process.execPath, [join(ROOT, "lb/build.mjs")], { stdio: "inherit" });
  const dir = mkdtempSync(join(tmpdir(), `bench-${prefix}-`));
  const env = {
    TESTBED_DIR: join(dir, "tb"),
    TESTBED_PREFIX: prefix,
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
    const file = join(dir, "lb.toml");
    writeFileSync(
      file,
      `[logging]
level = "warn"
[api]
enabled = true
bind = "127.0.0.1:${apiPort}"
${config({ region, apiPort })}`,
    );
    lb = spawn(process.execPath, [join(ROOT, "lb/dist/geoswarm-lb.cjs"), "-c", file], {
      stdio: ["ignore", "inherit", "inherit"],
    });
    await until(
      async () => (await fetch(`http://127.0.0.1:${apiPort}/ping`).catch(() => null))?.ok,
      "API",
    );
    await sleep(500); // discovery's first fetch and the event stream are up
    return await measure({ region, image: desc.image, docker, apiPort });
  } finally {
    if (lb && lb.exitCode === null) {
      lb.kill("SIGTERM");
      await new Promise((r) => lb.once("exit", r));
    }
    await sh(join(scripts, "down.sh"), [], env).catch((e) => process.stderr.write(`${e}\n`));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The result's common head: date, runs, poll interval, engine version and CPUs. */
export async function resultHead(bed, runs) {
  const engine = await bed.docker("version", "--format", "{{.Server.Version}}");
  return {
    date: new Date().toISOString(),
    runs,
    poll_ms: POLL_MS,
    engine: `dockerd ${engine}`,
    cpus: (await sh("nproc", [])).trim(),
  };
}

/** Writes bench/results/<name>-latest.json and prints `rows` ([label, summary]) as Markdown. */
export function report(name, result, heading, rows) {
  writeFileSync(
    join(ROOT, `bench/results/${name}-latest.json`),
    `${JSON.stringify(result, null, 2)}\n`,
  );
  const row = (label, s) =>
    `| ${label} | ${s.median.toFixed(0)} | ${s.p90.toFixed(0)} | ${s.max.toFixed(0)} | ${s.min.toFixed(0)} |`;
  console.log(`\n${heading}\n`);
  console.log("| measurement (ms) | median | p90 | max | min |\n|---|---:|---:|---:|---:|");
  for (const [label, s] of rows) console.log(row(label, s));
}

/** Runs `main`, printing its error and setting a failing exit code. */
export function run(main) {
  main().catch((err) => {
    process.stderr.write(`${err.stack ?? err}\n`);
    process.exitCode = 1;
  });
}
