import { describe, expect, it } from "vitest";
import {
  compileRe2,
  DEFAULT_BACKEND_PATTERN,
  formatBackendLine,
  parseBackendLine,
} from "../../../lb/src/config";

const d = { weight: 1, priority: 1, max_connections: 0, sni: "" };

describe("parseBackendLine (gobetween §1.10.1)", () => {
  it.each([
    ["10.0.0.1:80", { host: "10.0.0.1", port: 80, ...d }],
    ["  10.0.0.1:80  ", { host: "10.0.0.1", port: 80, ...d }],
    ["\t10.0.0.1:80\n", { host: "10.0.0.1", port: 80, ...d }],
    ["web.local:8080 weight=5", { host: "web.local", port: 8080, ...d, weight: 5 }],
    ["h:1 priority=2", { host: "h", port: 1, ...d, priority: 2 }],
    ["h:1 max_connections=10", { host: "h", port: 1, ...d, max_connections: 10 }],
    ["h:1 sni=a.example.com", { host: "h", port: 1, ...d, sni: "a.example.com" }],
    ["h:1 weight=0", { host: "h", port: 1, ...d, weight: 0 }],
    [
      "h:443 weight=3 priority=2 max_connections=7 sni=x.y",
      { host: "h", port: 443, weight: 3, priority: 2, max_connections: 7, sni: "x.y" },
    ],
    ["h:1 weight=2 sni=s", { host: "h", port: 1, ...d, weight: 2, sni: "s" }],
    ["h:1\tweight=2", { host: "h", port: 1, ...d, weight: 2 }],
    ["[::1]:80", { host: "[::1]", port: 80, ...d }],
    ["[2001:db8::1]:8080 weight=2", { host: "[2001:db8::1]", port: 8080, ...d, weight: 2 }],
    ["65535.example:65535", { host: "65535.example", port: 65535, ...d }],
  ])("%j", (line, spec) => {
    expect(parseBackendLine(line)).toEqual(spec);
  });

  it.each([
    ["", "empty line"],
    ["   ", "empty line"],
    ["10.0.0.1", 'expected host:port first, got "10.0.0.1"'],
    ["10.0.0.1:", 'expected host:port first, got "10.0.0.1:"'],
    [":80", 'expected host:port first, got ":80"'],
    ["10.0.0.1:http", 'expected host:port first, got "10.0.0.1:http"'],
    ["h:80  weight=2", "options must be separated by exactly one space"],
    ["h:80 weight=2  priority=1", "options must be separated by exactly one space"],
    [
      "h:80 priority=2 weight=1",
      "options must appear in the order weight, priority, max_connections, sni",
    ],
    [
      "h:80 sni=a weight=1",
      "options must appear in the order weight, priority, max_connections, sni",
    ],
    ["h:80 weight=1 weight=2", "option weight given twice"],
    ["h:80 weigth=2", 'unknown option "weigth=2"'],
    ["h:80 Weight=2", 'unknown option "Weight=2"'],
    ["h:80 backup", 'unknown option "backup"'],
    ["h:80 weight=-1", 'weight must be a non-negative integer, got "-1"'],
    ["h:80 weight=1.5", 'weight must be a non-negative integer, got "1.5"'],
    ["h:80 weight=", 'weight must be a non-negative integer, got ""'],
    ["h:80 sni=", "sni must not be empty"],
    ["h:0", "port 0 is not in 1-65535"],
    ["h:65536", "port 65536 is not in 1-65535"],
  ])("rejects %j: %s", (line, reason) => {
    expect(() => parseBackendLine(line)).toThrow(reason);
  });

  it("formats back to an equivalent line, omitting defaults", () => {
    expect(formatBackendLine({ host: "h", port: 1, ...d })).toBe("h:1");
    const full = { host: "[::1]", port: 443, weight: 3, priority: 2, max_connections: 7, sni: "x" };
    expect(formatBackendLine(full)).toBe("[::1]:443 weight=3 priority=2 max_connections=7 sni=x");
    expect(parseBackendLine(formatBackendLine(full))).toEqual(full);
    expect(() => formatBackendLine({ host: "h", port: 1, ...d, weight: -1 })).toThrow(/weight/);
    expect(() => formatBackendLine({ host: "a b", port: 1, ...d })).toThrow(/host/);
  });

  it("DEFAULT_BACKEND_PATTERN (Go syntax) agrees with the parser", () => {
    const re = compileRe2(DEFAULT_BACKEND_PATTERN);
    const m = re.exec("10.0.0.1:80 weight=2 max_connections=5 sni=a");
    expect(m).toMatchObject({
      host: "10.0.0.1",
      port: "80",
      weight: "2",
      max_connections: "5",
      sni: "a",
    });
    expect(re.test("10.0.0.1:80  weight=2")).toBe(false);
  });
});
