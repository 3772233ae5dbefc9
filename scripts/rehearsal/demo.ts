// `npm run demo` (scripts/demo.sh builds this into scripts/rehearsal/dist/demo.cjs and runs it):
// the rehearsal of the local stack, then the article's last step, printed for a person.
//
//   node demo.cjs [--once] [--labels] [--requests N] [--timeout SECS]
//   env: DEMO_DIR, TESTBED_PREFIX, TESTBED_NET (where the testbed lives), DEMO_T0 (ms since the
//        epoch when the demo started, for the time to alternating requests)
import { rmdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { get, Operator, sleep } from "./operator";
import { Rehearsal } from "./rehearsal";
import { regionLayout } from "./stack";

const args = process.argv.slice(2);
const once = args.includes("--once");
// Entry points from container labels (geoswarm:balancer.labels) on top of the hand-made ones.
const withLabels = args.includes("--labels");
const LABEL_PORT = 20001;
const option = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const requests = option("--requests", 6);
const timeoutS = option("--timeout", 86_400);
const t0 = Number(process.env.DEMO_T0) || Date.now();
const demoDir = process.env.DEMO_DIR ?? "/tmp/geoswarm-demo";

const stamp = () => new Date().toISOString().slice(11, 23);
const info = (msg: string) => process.stderr.write(`${stamp()} [INFO] [demo] ${msg}\n`);

let rehearsal: Rehearsal | undefined;
let tornDown = false;
async function teardown(): Promise<void> {
  if (tornDown) return;
  tornDown = true;
  info("tearing down");
  if (rehearsal) await rehearsal.down().catch((e: Error) => info(`teardown: ${e.message}`));
  rmSync(join(demoDir, "api-ca.pem"), { force: true });
  rmSync(join(demoDir, ".demo.lock"), { force: true });
  try {
    rmdirSync(demoDir);
  } catch {
    info(`${demoDir} not empty; left in place`);
  }
  info("teardown complete");
}

async function main(): Promise<void> {
  info("starting the testbed namespaces for the local stack");
  rehearsal = await Rehearsal.start({
    log: info,
    dir: join(demoDir, "testbed"),
    prefix: process.env.TESTBED_PREFIX,
    net: process.env.TESTBED_NET,
    loadProgram: async () => require("../../index"),
  });
  const r = rehearsal;
  info(
    `running index.ts under the rehearsal's mocks on ${r.net}.0/24 (namespaces ${r.tb.prefix}-region-N)`,
  );
  const out = await r.deploy((c) => {
    if (!withLabels) return;
    // Each region's clients, like the entry points' allowedCidr.
    c.balancer = {
      ...c.balancer,
      labels: { enabled: true, allowedCidrs: regionLayout(r.net).map((x) => x.cidr) },
    };
  });
  info(`deployed in ${((Date.now() - t0) / 1000).toFixed(1)} s since the demo started`);
  const op = new Operator(r);
  await op.startServices();
  info("services r1nginx-web and r2nginx-web created through the manager (swarm mode)");

  const client1 = op.client("region-1");
  const client2 = op.client("region-2");
  await op.waitServes(client1, "r1nginx", ["r1-host-1", "r1-host-2"], 30_000);
  const alternatingAfter = (Date.now() - t0) / 1000;
  await op.waitServes(client2, "r2nginx", ["r2-host-1", "r2-host-2"], 30_000);

  const print = (s = "") => process.stdout.write(`${s}\n`);
  const n = r.firewall.counts();
  print(
    `Firewall: the program's ${n.rules} security-group rules as ${n.iptables} iptables rules in the machines' namespaces (mangle PREROUTING on eth0: established/related accepted, planned flows accepted, the rest dropped)`,
  );
  print(r.firewall.table(r.sourceNames()));
  print();
  const r1 = op.entry("r1nginx");
  print(
    `$ sudo ip netns exec ${client1.netns} sh -c 'for i in $(seq ${requests}); do curl -s http://${r1}/; done'`,
  );
  let prev = "";
  let alternating = true;
  for (const body of await op.sequence(client1, "r1nginx", requests)) {
    print(body);
    if (body === prev || body === "(failed)") alternating = false;
    prev = body;
  }
  print();
  if (!alternating) throw new Error("answers did not alternate between r1-host-1 and r1-host-2");
  const caFile = join(demoDir, "api-ca.pem");
  writeFileSync(caFile, out.balancerApiCaPem);
  print("Entry points (LbServer resources of the program, registered through its provider):");
  for (const [name, at] of Object.entries(out.entryPoints)) {
    const region = name === "r1nginx" ? client1 : client2;
    print(
      `  ${name}  tcp://${at}  from its region's clients: sudo ip netns exec ${region.netns} curl -s http://${at}/`,
    );
  }
  const outsider = await get(r.tb.byName("outsider"), `http://${r1}/`, 1);
  print(
    `  from outside the allowed sources (${r.tb.byName("outsider").netns}): ${outsider.code === 28 ? "dropped by the firewall" : `curl exit ${outsider.code}`}`,
  );
  print(
    `Dashboard:  ${out.balancerApiUrl}/dashboard   (user ${out.balancerApiUser}, password ${out.balancerApiPassword}; CA ${caFile})`,
  );
  print(
    `REST API:   curl --cacert ${caFile} -u ${out.balancerApiUser}:${out.balancerApiPassword} ${out.balancerApiUrl}/servers`,
  );
  print(`DOCKER_HOST ${out.dockerHost} (TLS: the stack output dockerClientTls)`);
  print(`Time to alternating requests: ${alternatingAfter.toFixed(1)} s since the demo started`);
  print();
  if (withLabels) await labelsWalkthrough(op, print);
  if (once) {
    info("--once: walkthrough done");
    return;
  }
  info(`ready; press Ctrl-C to tear everything down (or wait ${timeoutS} s)`);
  const deadline = Date.now() + timeoutS * 1000;
  while (Date.now() < deadline) await sleep(1000);
  info(`--timeout of ${timeoutS} s reached`);
}

/**
 * The same regional entry point from labels alone: the section the program rendered into the
 * balancer's config, a labelled service through the manager, requests from region 1's client,
 * and the provider's view (GET /providers).
 */
async function labelsWalkthrough(op: Operator, print: (s?: string) => void): Promise<void> {
  const r = op.r;
  const balancer = r.tb.byName("balancer");
  const config = (await r.tb.exec(balancer, "cat /etc/geoswarm-lb/config.toml")).stdout;
  const section = /^\[providers\.docker\]\n(?:[^[\n].*\n?)*/m.exec(config)?.[0];
  if (!section)
    throw new Error("--labels: the balancer's config has no [providers.docker] section");
  print(
    "Entry points from container labels (geoswarm:balancer.labels), as rendered by the program:",
  );
  print(
    `$ sudo ip netns exec ${balancer.netns} cat /etc/geoswarm-lb/config.toml   # its [providers.docker]`,
  );
  print(section.trimEnd());
  print();
  const args = await op.startLabelledService("r1labels", "region-1", LABEL_PORT);
  const t0 = Date.now();
  print(`$ docker ${args.map((a) => (/[\s{}$;|]/.test(a) ? `'${a}'` : a)).join(" ")}`);
  const client1 = op.client("region-1");
  const url = `http://${balancer.ip}:${LABEL_PORT}/`;
  await op.waitServesAt(
    client1,
    url,
    ["r1-host-1", "r1-host-2"],
    60_000,
    "the labelled service r1labels",
  );
  const servedAfter = (Date.now() - t0) / 1000;
  print(`$ sudo ip netns exec ${client1.netns} sh -c 'for i in $(seq 4); do curl -s ${url}; done'`);
  for (let i = 0; i < 4; i++) print((await get(client1, url)).body || "(failed)");
  const outsider = await get(r.tb.byName("outsider"), url, 1);
  print(
    `  from outside balancer.labels.allowedCidrs (${r.tb.byName("outsider").netns}): ${outsider.code === 28 ? "dropped by the firewall" : `curl exit ${outsider.code}`}`,
  );
  const providers = await op.api("/providers");
  print(`GET /providers: ${providers.status} ${JSON.stringify(providers.body)}`);
  // A label the provider must refuse: a port outside balancer.labels.portRange.
  await op.docker(
    "service",
    "create",
    "--detach",
    "--name",
    "r1outside",
    "--constraint",
    "engine.labels.region==region-1",
    "--label",
    "geoswarm.lb.port=19000",
    "--publish",
    "mode=host,target=80",
    r.tb.image,
    "sh",
    "-c",
    "exec httpd -f -p 80 -h /",
  );
  print(
    "$ docker service create --name r1outside --label geoswarm.lb.port=19000 ...   # outside 20000-20999",
  );
  const refusal = await op.refusalOf("r1outside", 30_000);
  print(`GET /providers refusals: ${JSON.stringify(refusal)}`);
  const journal = await r.tb.exec(balancer, "journalctl -u geoswarm-lb.service -n 200");
  const logged = journal.stdout.split("\n").filter((l) => l.includes("r1outside"));
  print(`$ journalctl -u geoswarm-lb.service | grep r1outside   # once per change, not per event`);
  print(logged.join("\n") || "(not logged)");
  print(
    `Labelled service served through the balancer after ${servedAfter.toFixed(1)} s (service create, task scheduling and start included)`,
  );
  print();
}

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    info("interrupted");
    teardown().then(() => process.exit(0));
  });
}
main()
  .then(teardown)
  .then(() => process.exit(0))
  .catch(async (err: Error) => {
    process.stderr.write(`${stamp()} [ERROR] [demo] ${err.message}\n`);
    await teardown();
    process.exit(1);
  });
