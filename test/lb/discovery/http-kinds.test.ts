// json and plaintext discovery against a real HTTP server on loopback.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evalJsonPath, parseJsonPath } from "../../../lb/src/discovery/json";
import { startDiscovery, toml, waitFor } from "./support/helpers";

let server: http.Server;
let base = "";
const routes = new Map<string, { status?: number; body: string }>();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const r = routes.get(req.url ?? "");
    res.statusCode = r ? (r.status ?? 200) : 404;
    res.end(r ? r.body : "not found");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("json path patterns", () => {
  it("parses gojq-style paths and evaluates them", () => {
    expect(parseJsonPath("address.ip")).toEqual(["address", "ip"]);
    expect(parseJsonPath("ports[1].n")).toEqual(["ports", 1, "n"]);
    expect(parseJsonPath("[0]")).toEqual([0]);
    expect(evalJsonPath({ a: [{ b: 5 }] }, parseJsonPath("a[0].b"))).toBe(5);
    expect(evalJsonPath({ a: 1 }, parseJsonPath("a.b"))).toBeUndefined();
    expect(() => parseJsonPath("a[x]")).toThrow('invalid path "a[x]" at offset 1');
  });
});

describe("json discovery", () => {
  it("maps default patterns; numbers as strings and defaults for missing fields", async () => {
    routes.set("/default", {
      body: JSON.stringify([
        { host: "10.0.0.1", port: 80, weight: 5, priority: 2, sni: "a", max_connections: 9 },
        { host: "10.0.0.2", port: "81" },
        { host: "10.0.0.3", port: 82, weight: -4, priority: 2.7 },
      ]),
    });
    const d = startDiscovery(
      `kind = "json"\njson_endpoint = ${toml(`${base}/default`)}\ninterval = "1s"`,
    );
    try {
      await waitFor(() => d.updates.length === 1, "first list");
      expect(d.updates[0]).toEqual([
        { host: "10.0.0.1", port: 80, weight: 5, priority: 2, max_connections: 9, sni: "a" },
        { host: "10.0.0.2", port: 81, weight: 1, priority: 1, max_connections: 0, sni: "" },
        { host: "10.0.0.3", port: 82, weight: 1, priority: 2, max_connections: 0, sni: "" },
      ]);
      const w = d.records.find((r) => r.msg.startsWith("json discovery: invalid value"));
      expect(w).toMatchObject({ element: 2, field: "weight", got: "a number", used: 1 });
    } finally {
      d.stop();
    }
  });

  it("uses custom nested patterns", async () => {
    routes.set("/nested", {
      body: JSON.stringify([{ addr: { ip: "10.1.0.1", ports: [{ n: 8080 }] }, meta: { w: 3 } }]),
    });
    const d = startDiscovery(
      `kind = "json"\njson_endpoint = ${toml(`${base}/nested`)}\njson_host_pattern = "addr.ip"\njson_port_pattern = "addr.ports[0].n"\njson_weight_pattern = "meta.w"\ninterval = "1s"`,
    );
    try {
      await waitFor(() => d.updates.length === 1, "first list");
      expect(d.updates[0]).toEqual([
        { host: "10.1.0.1", port: 8080, weight: 3, priority: 1, max_connections: 0, sni: "" },
      ]);
    } finally {
      d.stop();
    }
  });

  it("fails the fetch with a clear message on bad documents and error statuses", async () => {
    const cases: Array<[string, { status?: number; body: string }, string]> = [
      ["/obj", { body: '{"host":"a"}' }, "expected a JSON array, got an object"],
      ["/notjson", { body: "<html>" }, "body is not JSON (6 bytes, not quoted)"],
      [
        "/noport",
        { body: '[{"host":"10.0.0.1"}]' },
        'element [0]: json_port_pattern "port" gave nothing, expected a port 1-65535',
      ],
      [
        "/badhost",
        { body: '[{"host":7,"port":80}]' },
        'element [0]: json_host_pattern "host" gave a number, expected a host name or address',
      ],
      // Bodies are never quoted: the URL may point at something secret (issue 13, item 4).
      ["/err", { status: 503, body: "maintenance" }, "HTTP 503 (11 bytes)"],
    ];
    for (const [path, route, message] of cases) {
      routes.set(path, route);
      const d = startDiscovery(
        `kind = "json"\njson_endpoint = ${toml(base + path)}\ninterval = "1s"`,
      );
      try {
        await waitFor(() => d.records.some((r) => r.msg === "discovery failed"), `failure ${path}`);
        expect(String(d.records.find((r) => r.msg === "discovery failed")?.err)).toContain(message);
        expect(d.updates).toEqual([]);
      } finally {
        d.stop();
      }
    }
  });
});

describe("plaintext discovery", () => {
  it("uses the backend-line grammar by default and ignores other lines", async () => {
    routes.set("/plain", {
      body: "10.0.0.1:80 weight=2 sni=x\n# comment\n\n  10.0.0.2:81  \n10.0.0.3:0\n",
    });
    const d = startDiscovery(
      `kind = "plaintext"\nplaintext_endpoint = ${toml(`${base}/plain`)}\ninterval = "1s"`,
    );
    try {
      await waitFor(() => d.updates.length === 1, "first list");
      expect(d.updates[0]).toEqual([
        { host: "10.0.0.1", port: 80, weight: 2, priority: 1, max_connections: 0, sni: "x" },
        { host: "10.0.0.2", port: 81, weight: 1, priority: 1, max_connections: 0, sni: "" },
      ]);
      expect(d.records.find((r) => r.msg === "plaintext discovery: line skipped")).toMatchObject({
        line: 5,
        field: "port",
        expected: "a port 1-65535",
      });
      // The line's text is not logged (the body may be secret).
      expect(JSON.stringify(d.records)).not.toContain("10.0.0.3");
    } finally {
      d.stop();
    }
  });

  it("applies a custom Go regexp with named groups and follows changes", async () => {
    routes.set("/custom", { body: "web1 10.0.0.1 port 80 w 4\nweb2 10.0.0.2 port 81\n" });
    const pattern = String.raw`^(?P<name>\w+) (?P<host>\S+) port (?P<port>\d+)( w (?P<weight>\d+))?$`;
    const d = startDiscovery(
      `kind = "plaintext"\nplaintext_endpoint = ${toml(`${base}/custom`)}\nplaintext_regex_pattern = ${toml(pattern)}\ninterval = "50ms"`,
    );
    try {
      await waitFor(() => d.updates.length >= 1, "first list");
      expect(d.updates[0].map((b) => [b.host, b.port, b.weight])).toEqual([
        ["10.0.0.1", 80, 4],
        ["10.0.0.2", 81, 1],
      ]);
      routes.set("/custom", { body: "web2 10.0.0.2 port 81\n" });
      await waitFor(() => d.current()?.join() === "10.0.0.2:81", "changed list");
    } finally {
      d.stop();
    }
  });
});
