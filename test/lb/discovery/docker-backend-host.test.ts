// Plain docker discovery never dials, as a backend, an address a container or node reported that
// would be the balancer's own host or the metadata service: a port published on 127.0.0.1 of a
// remote engine, a link-local address, 0.0.0.0 from a node. Each is skipped with a log line.
// Behind a local endpoint (unix socket), loopback is the container's own binding and is kept.
import { describe, expect, it } from "vitest";
import { type DockerClient, dockerEndpoint } from "../../../lb/src/discovery/docker/client";
import { containerBackends } from "../../../lb/src/discovery/docker/containers";
import { taskBackends } from "../../../lb/src/discovery/docker/swarm";
import { Notes } from "../../../lb/src/discovery/notes";
import { recordingLogger } from "./support/helpers";

/** A client that answers GETs from a table, at the endpoint `raw`. */
function fakeClient(raw: string, answers: Record<string, unknown>): DockerClient {
  const endpoint = dockerEndpoint({ endpoint: raw, tls: false }, "discovery.docker_endpoint");
  return {
    endpoint,
    get: async (path: string) => {
      const key = Object.keys(answers).find((k) => path.startsWith(k));
      if (!key) throw new Error(`unexpected GET ${path}`);
      return answers[key];
    },
  } as unknown as DockerClient;
}

const CONTAINERS = [
  ["loop", "127.0.0.1", 18500],
  ["meta", "169.254.169.254", 80],
  ["v6loop", "::1", 18501],
  ["ok", "", 32001],
].map(([name, ip, port]) => ({
  Id: String(name),
  Names: [`/${name}`],
  Labels: { service: "web" },
  State: "running",
  Ports: [{ IP: ip, PrivatePort: 80, PublicPort: port, Type: "tcp" }],
}));

async function backends(raw: string) {
  const { log, records } = recordingLogger();
  const client = fakeClient(raw, { "/containers/json": CONTAINERS });
  const list = await containerBackends(
    client,
    { label: "service=web", privatePort: 80, hostEnvVar: "", skipSwarmTasks: false },
    new Notes(log),
    new AbortController().signal,
  );
  return { list: list.map((b) => `${b.host}:${b.port}`), records };
}

describe("docker discovery: addresses the balancer must not dial", () => {
  it("a remote endpoint: loopback, link-local and unspecified published addresses are skipped with a line", async () => {
    const { list, records } = await backends("tcp://10.0.0.2:2375");
    expect(list).toEqual(["10.0.0.2:32001"]);
    const skipped = records
      .filter((r) => r.msg.includes("address; skipped"))
      .map((r) => `${r.container} ${r.address}: ${r.msg}`);
    expect(skipped).toEqual([
      "loop 127.0.0.1: docker discovery: container port is published on a loopback (the balancer's own host, not the container's) address; skipped",
      "meta 169.254.169.254: docker discovery: container port is published on a link-local or cloud metadata address; skipped",
      "v6loop [::1]: docker discovery: container port is published on a loopback (the balancer's own host, not the container's) address; skipped",
    ]);
  });

  it("a unix endpoint: loopback is the container's own binding and is kept", async () => {
    const { list } = await backends("unix:///var/run/docker.sock");
    expect(list).toEqual(["127.0.0.1:18500", "[::1]:18501", "127.0.0.1:32001"]);
  });

  it("swarm mode: a task on a node whose address is loopback behind a remote manager is skipped", async () => {
    const { log, records } = recordingLogger();
    const task = (id: string, node: string) => ({
      ID: id,
      ServiceID: "s1",
      NodeID: node,
      Status: {
        State: "running",
        PortStatus: {
          Ports: [{ TargetPort: 80, PublishedPort: 30080, PublishMode: "host", Protocol: "tcp" }],
        },
      },
    });
    const node = (id: string, addr: string) => ({
      ID: id,
      Description: { Hostname: id },
      Status: { State: "ready", Addr: addr },
    });
    const client = fakeClient("tcp://10.0.0.2:2376", {
      "/services": [{ ID: "s1", Spec: { Name: "web", Labels: { service: "web" } } }],
      "/tasks": [task("t1", "n1"), task("t2", "n2")],
      "/nodes": [node("n1", "127.0.0.1"), node("n2", "10.0.0.3")],
    });
    const list = await taskBackends(
      client,
      { label: "service=web", privatePort: 80 },
      new Notes(log),
      new AbortController().signal,
    );
    expect(list.map((b) => `${b.host}:${b.port}`)).toEqual(["10.0.0.3:30080"]);
    expect(records.filter((r) => r.msg.includes("address; skipped")).map((r) => r.node)).toEqual([
      "n1",
    ]);
  });
});
