// The docker-labels planner without Docker: groups by port, the settings that win a port, and
// each refusal naming the container or service and the label.
import { describe, expect, it } from "vitest";
import type { ServerConfig } from "../../../lb/src/config/types";
import {
  type Candidate,
  type PlanContext,
  plan,
} from "../../../lb/src/providers/docker-labels/plan";

const CTX: PlanContext = {
  labels: {
    prefix: "geoswarm.lb.",
    listenHost: "0.0.0.0",
    portRange: { first: 20000, last: 20999 },
    defaults: {
      max_connections: 0,
      client_idle_timeout: "0",
      backend_idle_timeout: "0",
      backend_connection_timeout: "0",
    },
  },
  portUser: (port) => (port === 20888 ? 'server "web" (config file)' : undefined),
  current: () => undefined,
};

let created = 0;
function container(
  name: string,
  l: Record<string, string>,
  ports: Array<[number, number]>,
): Candidate {
  return {
    source: "container",
    name,
    id: name,
    created: ++created,
    labels: Object.fromEntries(Object.entries(l).map(([k, v]) => [`geoswarm.lb.${k}`, v])),
    instances: [
      {
        name: `container ${name}`,
        ports: ports.map(([priv, pub]) => ({
          host: "10.0.0.2",
          privatePort: priv,
          publicPort: pub,
          protocol: "tcp" as const,
        })),
      },
    ],
  };
}

describe("docker-labels plan", () => {
  it("containers with one port form one server with every backend", () => {
    const p = plan(
      [
        container("a", { port: "20080" }, [[80, 32001]]),
        container("b", { port: "20080", weight: "3" }, [[80, 32002]]),
        container("c", { port: "20081", target: "8080" }, [
          [80, 32003],
          [8080, 32004],
        ]),
      ],
      CTX,
    );
    expect(p.refusals).toEqual([]);
    expect(p.servers.get(20080)?.config.discovery.static_list).toEqual([
      "10.0.0.2:32001",
      "10.0.0.2:32002 weight=3",
    ]);
    expect(p.servers.get(20080)?.members).toEqual(["container a", "container b"]);
    expect(p.servers.get(20081)?.config.discovery.static_list).toEqual(["10.0.0.2:32004"]);
  });

  it("refuses a port another listener uses, a missing target and an unpublished port", () => {
    const p = plan(
      [
        container("taken", { port: "20888" }, [[80, 32001]]),
        container("two", { port: "20082" }, [
          [80, 32002],
          [443, 32003],
        ]),
        container("closed", { port: "20083" }, [[80, 0]]),
        container("ok", { port: "20084" }, [[80, 32004]]),
      ],
      CTX,
    );
    expect(p.refusals.map((r) => `${r.name} ${r.label}: ${r.problem}`)).toEqual([
      'taken geoswarm.lb.port: expected a port no other listener of the balancer uses; 20888 is used by server "web" (config file)',
      "two geoswarm.lb.target: required: container two publishes several tcp ports (80, 443); name the one to balance",
      "closed geoswarm.lb.target: expected a published tcp port (docker run -p …:80), container closed has none for 80",
    ]);
    expect([...p.servers.keys()]).toEqual([20084]);
  });

  it("two groups with different settings on one port: the oldest (or the serving one) keeps it, the other is refused naming the label", () => {
    const first = container("first", { port: "20080", balance: "roundrobin" }, [[80, 32001]]);
    const second = container("second", { port: "20080", balance: "leastconn" }, [[80, 32002]]);
    const p = plan([second, first], CTX);
    expect(p.servers.get(20080)?.members).toEqual(["container first"]);
    expect(p.refusals).toEqual([
      {
        source: "container",
        name: "second",
        label: "geoswarm.lb.balance",
        value: "leastconn",
        problem:
          "port 20080 is served with other settings (balance roundrobin, from container first; this one asks for leastconn): use the same labels or another port",
        port: 20080,
      },
    ]);
    // The running server's settings win over an older container's.
    const serving = plan([first, second], {
      ...CTX,
      current: () =>
        p.servers.get(20080)?.config &&
        ({ ...p.servers.get(20080)?.config, balance: "leastconn" } as ServerConfig),
    });
    expect(serving.servers.get(20080)?.members).toEqual(["container second"]);
    expect(serving.refusals.map((r) => r.name)).toEqual(["first"]);
    const udp = container("udp", { port: "20080", protocol: "udp" }, []);
    udp.instances[0].ports.push({
      host: "10.0.0.3",
      privatePort: 53,
      publicPort: 32053,
      protocol: "udp",
    });
    const protocols = plan([first, udp], CTX);
    expect(protocols.refusals.map((r) => `${r.name} ${r.label}=${r.value}: ${r.problem}`)).toEqual([
      "udp geoswarm.lb.protocol=udp: port 20080 is served with other settings (protocol tcp, from container first; this one asks for udp): use the same labels or another port",
    ]);
  });

  it("refuses a port published on loopback (of a remote node), link-local or 0.0.0.0, naming the address", () => {
    const at = (name: string, host: string, pub: number): Candidate => {
      const c = container(name, { port: "20090" }, [[80, pub]]);
      c.instances[0].ports[0].host = host;
      return c;
    };
    const candidates = [
      at("consul", "127.0.0.1", 18500),
      at("v6", "[::1]", 18501),
      at("mapped", "[::ffff:127.0.0.1]", 18502),
      at("meta", "169.254.169.254", 80),
      at("any", "0.0.0.0", 18503),
      at("fine", "10.0.0.2", 32001),
    ];
    const p = plan(candidates, CTX);
    expect(p.servers.get(20090)?.config.discovery.static_list).toEqual(["10.0.0.2:32001"]);
    expect(p.refusals.map((r) => `${r.name} ${r.label}=${r.value}`)).toEqual([
      "consul geoswarm.lb.target=127.0.0.1:18500",
      "v6 geoswarm.lb.target=[::1]:18501",
      "mapped geoswarm.lb.target=[::ffff:127.0.0.1]:18502",
      "meta geoswarm.lb.target=169.254.169.254:80",
      "any geoswarm.lb.target=0.0.0.0:18503",
    ]);
    expect(p.refusals[0]).toMatchObject({
      source: "container",
      port: 20090,
      problem:
        "expected port 80 published on an address the balancer reaches the container at; container consul publishes it on 127.0.0.1:18500, which is loopback (the balancer's own host, not the container's)",
    });
    // Behind a local endpoint (unix socket), loopback is the container's own binding.
    const local = plan(candidates, { ...CTX, localEndpoint: true });
    expect(local.refusals.map((r) => r.name)).toEqual(["meta", "any"]);
    expect(local.servers.get(20090)?.backends.map((b) => `${b.host}:${b.port}`)).toEqual([
      "[::1]:18501",
      "[::ffff:127.0.0.1]:18502",
      "10.0.0.2:32001",
      "127.0.0.1:18500",
    ]);
  });

  it("with backend_port_range, a backend published outside it is refused, naming its address", () => {
    const p = plan(
      [
        container("fixed", { port: "20091" }, [[80, 8080]]),
        container("ephemeral", { port: "20091" }, [[80, 32801]]),
      ],
      { ...CTX, backendPorts: { first: 32768, last: 60999 } },
    );
    expect(p.servers.get(20091)?.config.discovery.static_list).toEqual(["10.0.0.2:32801"]);
    expect(p.refusals.map((r) => `${r.name} ${r.label}=${r.value}: ${r.problem}`)).toEqual([
      "fixed geoswarm.lb.target=10.0.0.2:8080: expected port 80 published on a host port in 32768-60999 (providers.docker.backend_port_range), the ports the balancer may reach; container fixed publishes it on 10.0.0.2:8080",
    ]);
    // Off by default: any host port.
    expect(plan([container("fixed2", { port: "20092" }, [[80, 8080]])], CTX).refusals).toEqual([]);
  });
});
