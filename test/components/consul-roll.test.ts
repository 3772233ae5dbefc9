// A Consul version or config change rolls over the servers one at a time: each server's agent step
// depends on the previous server's, and a step that restarted a running server succeeds only once
// the cluster has a leader with every server alive and voting, within a bound. The graph comes
// from the mocked engine; the wait runs under sh against a stub `consul` that answers like the
// real CLI (`consul members`, `consul operator raft list-peers`, their errors).
import { spawnSync } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { consulConfigSchema } from "../../components/render/consul";
import { consulInstallScript } from "../../components/render/consul-install";
import { DEFAULT_CONSUL_VERSION } from "../../components/types";
import { installMocks, isSecretValue, type Recorded, settled } from "./support/mocks";
import { scratch } from "./support/tools";

let recorded: Recorded[];
const SERVERS = ["consul-1", "consul-2", "consul-3"];
const step = (name: string) => {
  const found = recorded.filter((r) => r.type === "command:remote:Command" && r.name === name);
  expect(found, name).toHaveLength(1);
  return found[0];
};

beforeAll(async () => {
  recorded = await installMocks();
  const lib = await import("../../components");
  const network = new lib.RegionNetwork("roll", {
    awsRegion: "eu-west-1",
    cidr: "10.95.0.0/16",
    sshPublicKey: "ssh-ed25519 AAAA x",
  });
  new lib.ConsulCluster("c", { network, ssh: { privateKey: "fake-key" } });
  await settled(recorded);
});

describe("the Consul servers' agent steps", () => {
  it("form a chain: server 2 after server 1, server 3 after server 2, each after its boot check", () => {
    const steps = SERVERS.map((s) => step(`c-${s}-consul`));
    const depends = (a: Recorded, b: Recorded) => a.options?.dependencies?.includes(b.urn!);
    expect(depends(steps[1], steps[0])).toBe(true);
    expect(depends(steps[2], steps[1])).toBe(true);
    expect(depends(steps[0], steps[1]) || depends(steps[0], steps[2])).toBe(false);
    SERVERS.forEach((s, i) => {
      const vm = recorded.find((r) => r.name === `c-${s}-vm`)!;
      expect(depends(steps[i], step(`c-${s}-cloud-init`)), s).toBe(true);
      expect(steps[i].options?.deletedWith, s).toBe(vm.urn);
      expect(steps[i].inputs.triggers, s).toEqual([`c-${s}-vm-id`]);
      // the version is in the step, not in the user data (a change would replace the instance)
      expect(steps[i].inputs.create).toContain(`version='${DEFAULT_CONSUL_VERSION}'`);
      expect(vm.inputs.userData, s).not.toMatch(/encrypt|apt|packages|consul=|\d+\.\d+\.\d+-\d/);
    });
  });

  it("send the config with the gossip key on stdin, secret, valid for the agent", () => {
    for (const s of SERVERS) {
      const c = step(`c-${s}-consul`);
      expect(isSecretValue(c.raw.stdin), s).toBe(true);
      const config = consulConfigSchema.parse(JSON.parse(c.inputs.stdin));
      expect(config.node_name).toBe(s);
      expect(config.bootstrap_expect).toBe(3);
      expect(c.inputs.create).not.toContain(config.encrypt);
    }
  });

  it("wait for the whole cluster after restarting a server that was running", () => {
    const script = step("c-consul-2-consul").inputs.create as string;
    expect(script).toMatch(
      /if sudo systemctl is-active --quiet consul && \[ -f \/var\/lib\/geoswarm\/consul-step-done \]; then\n {2}was_active=1\nfi\n/,
    );
    expect(script).toMatch(
      /if \[ "\$was_active" -eq 1 \]; then\n {2}sh "\$work\/wait\.sh" cluster\n/,
    );
    // restarts do not block on the join (a first start waits for servers started later)
    expect(script).toContain("sudo systemctl restart --no-block consul");
    // The voters before the restart, else the config's list.
    expect(script).toContain("servers=${WAIT_SERVERS:-'consul-1 consul-2 consul-3'}");
    expect(script).toContain(
      "sudo install -D -m 0644 /dev/null /var/lib/geoswarm/consul-step-done",
    );
    expect(script).toMatch(/^wait_seconds=300$/m);
  });
});

// ---- the wait itself, against a stub consul ----

const HEADER_PEERS =
  "Node      ID                                    Address             State     Voter  RaftProtocol  Commit Index  Trails Leader By";
const peer = (n: number, state: string, voter: boolean) =>
  `consul-${n}  0b1c${n}e2f-5a1d-4c7e-9a1b-2f3e4d5c6b7${n}  198.51.100.3${n}:8300  ${state}  ${voter}   3             4211          ${state === "leader" ? "-" : "0 commits"}`;
const HEADER_MEMBERS =
  "Node      Address             Status  Type    Build   Protocol  DC          Partition  Segment";
const member = (n: number, status: string) =>
  `consul-${n}  198.51.100.3${n}:8301  ${status}   server  1.20.2  2         production  default    <all>`;

/** Answers of the stub, one per probe (the last one repeats). */
type Answer = "down" | "no-leader" | "healthy" | "non-voter" | "failed-member";

/** `consul members` with servers 1..3 in these states. */
const members = (...status: string[]) =>
  [HEADER_MEMBERS, ...status.map((st, i) => member(i + 1, st))].join("\n");
/** `consul operator raft list-peers`: server 1 leads; `voters[i]` says whether server i+1 votes. */
const peers = (...voters: boolean[]) =>
  [HEADER_PEERS, ...voters.map((v, i) => peer(i + 1, i === 0 ? "leader" : "follower", v))].join(
    "\n",
  );

function answers(a: Answer): { members: string; peers: string; code: number; error?: string } {
  const refused = (what: string, url: string) =>
    `${what}: Get "http://127.0.0.1:8500${url}": dial tcp 127.0.0.1:8500: connect: connection refused`;
  switch (a) {
    case "down":
      return {
        members: "",
        peers: "",
        code: 1,
        error: refused("Error retrieving members", "/v1/agent/members?segment=_all"),
      };
    case "no-leader":
      return {
        members: members("alive", "alive", "alive"),
        peers: "",
        code: 1,
        error:
          "Error getting peers: Failed to retrieve raft configuration: Unexpected response code: 500 (No cluster leader)",
      };
    case "healthy":
      return {
        members: members("alive", "alive", "alive"),
        peers: peers(true, true, true),
        code: 0,
      };
    case "non-voter":
      // autopilot has not promoted the restarted server yet
      return {
        members: members("alive", "alive", "alive"),
        peers: peers(true, false, true),
        code: 0,
      };
    case "failed-member":
      return {
        members: members("alive", "alive", "failed"),
        peers: peers(true, true, true),
        code: 0,
      };
  }
}

/** Runs the step's embedded wait (taken out of the install script) against the stub. */
function runWait(mode: "cluster" | "agent", sequence: Answer[], waitSeconds = 3) {
  const install = consulInstallScript({
    version: "1.20.2-1",
    nodeName: "consul-2",
    httpAddr: "http://127.0.0.1:8500",
    servers: SERVERS,
    waitSeconds,
    intervalSeconds: 1,
  });
  const wait = /cat >"\$work\/wait\.sh" <<'GEOSWARM_EOF'\n([\s\S]*?)\nGEOSWARM_EOF/.exec(
    install,
  )![1];
  const dir = scratch();
  sequence.forEach((a, i) => {
    const r = answers(a);
    writeFileSync(path.join(dir, `members.${i}`), r.error && !r.members ? "" : `${r.members}\n`);
    writeFileSync(path.join(dir, `peers.${i}`), r.peers ? `${r.peers}\n` : "");
    writeFileSync(path.join(dir, `error.${i}`), r.error ? `${r.error}\n` : "");
    writeFileSync(path.join(dir, `down.${i}`), a === "down" ? "1" : "0");
  });
  writeFileSync(path.join(dir, "probes"), "0");
  // The stub: `members` advances to the next answer (one per probe); list-peers reads the same one.
  writeFileSync(
    path.join(dir, "consul"),
    `#!/bin/sh
d=${dir}
last=${sequence.length - 1}
n=$(cat "$d/probes")
i=$n
[ "$i" -gt "$last" ] && i=$last
case "$1 $2" in
  "members -http-addr="*)
    echo $((n + 1)) >"$d/probes"
    if [ "$(cat "$d/down.$i")" = 1 ]; then cat "$d/error.$i" >&2; exit 1; fi
    cat "$d/members.$i" ;;
  "operator raft")
    i=$((n - 1)); [ "$i" -gt "$last" ] && i=$last
    if [ -s "$d/peers.$i" ]; then cat "$d/peers.$i"; else cat "$d/error.$i" >&2; exit 1; fi ;;
  *) echo "stub consul: unexpected arguments: $*" >&2; exit 2 ;;
esac
`,
  );
  chmodSync(path.join(dir, "consul"), 0o755);
  const t0 = Date.now();
  const r = spawnSync("sh", ["-c", wait, "wait.sh", mode], {
    encoding: "utf8",
    env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
    timeout: 30_000,
  });
  return { ...r, seconds: (Date.now() - t0) / 1000 };
}

describe("the wait in a Consul server's step (stub consul)", () => {
  it("succeeds at once on a healthy cluster", () => {
    const r = runWait("cluster", ["healthy"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("consul-2 is back; leader elected");
  });

  it("waits while the restarted server is down and there is no leader, then succeeds", () => {
    const r = runWait("cluster", ["down", "no-leader", "healthy"], 10);
    expect(r.status, r.stderr).toBe(0);
    expect(r.seconds).toBeGreaterThanOrEqual(1.9);
  });

  it("fails within the bound when the server does not come back, with the last answer", () => {
    const r = runWait("cluster", ["down"], 3);
    expect(r.status).toBe(1);
    expect(r.seconds).toBeLessThan(8);
    expect(r.stderr).toContain(
      "consul: after 3 s there is no leader with every server (consul-1 consul-2 consul-3) alive and voting, seen from consul-2",
    );
  });

  it("fails when the cluster never elects a leader", () => {
    const r = runWait("cluster", ["no-leader"], 2);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("No cluster leader");
  });

  it("does not pass while a server is not (yet) a voter or is not alive", () => {
    expect(runWait("cluster", ["non-voter"], 2).status).toBe(1);
    expect(runWait("cluster", ["failed-member"], 2).status).toBe(1);
    expect(runWait("cluster", ["non-voter", "healthy"], 5).status).toBe(0);
  });

  it("on a first start waits only for the agent itself (the other servers start later)", () => {
    expect(runWait("agent", ["down", "no-leader"], 5).status).toBe(0);
    const r = runWait("agent", ["down"], 2);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("consul: the agent consul-2 did not come up alive within 2 s");
    expect(r.stderr).toContain("connection refused");
  });
});
