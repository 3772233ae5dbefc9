import { describe, expect, it } from "vitest";
import { formatDuration, isDuration, parseDuration } from "../../../lb/src/config";

describe("parseDuration (Go time.ParseDuration)", () => {
  it.each([
    ["0", 0],
    ["-0", 0],
    ["+0", 0],
    ["0s", 0],
    ["1ns", 0.000001],
    ["1us", 0.001],
    ["1\u00b5s", 0.001],
    ["1\u03bcs", 0.001],
    ["1ms", 1],
    ["500ms", 500],
    ["1s", 1000],
    ["1.5s", 1500],
    [".5s", 500],
    ["1.s", 1000],
    ["2m", 120_000],
    ["1h", 3_600_000],
    ["1h30m", 5_400_000],
    ["1h30m15s", 5_415_000],
    ["1m1.5s", 61_500],
    ["1.5h", 5_400_000],
    ["-1.5h", -5_400_000],
    ["+10s", 10_000],
    ["1s500ms", 1500],
    ["0.000000001s", 0.000001],
    ["0.0000000019s", 0.000001], // truncated to whole nanoseconds, like Go
    ["2562047h47m16.854775807s", 9_223_372_036_854.775],
  ])("%s → %s ms", (s, ms) => {
    expect(parseDuration(s)).toBeCloseTo(ms, 9);
    expect(isDuration(s)).toBe(true);
  });

  it.each([
    "",
    "1",
    "10",
    "s",
    ".s",
    ".",
    "-",
    "+",
    "1d",
    "1w",
    "1 s",
    "1h 30m",
    "10 seconds",
    "1S",
    "1H",
    "0s1",
    "ms",
    "1.2.3s",
    " 1s",
    "1s ",
    "2562047h47m16.854775808s",
    "9999999999h",
  ])("rejects %j", (s) => {
    expect(() => parseDuration(s)).toThrow(/invalid duration/);
    expect(isDuration(s)).toBe(false);
  });

  it("names the reason", () => {
    expect(() => parseDuration("1")).toThrow('invalid duration "1": missing unit');
    expect(() => parseDuration("1d")).toThrow('invalid duration "1d": unknown unit "d"');
  });
});

describe("formatDuration (Go Duration.String)", () => {
  it.each([
    [0, "0s"],
    [0.000001, "1ns"],
    [0.0015, "1.5\u00b5s"],
    [1, "1ms"],
    [1.5, "1.5ms"],
    [100, "100ms"],
    [999, "999ms"],
    [1000, "1s"],
    [1500, "1.5s"],
    [60_000, "1m0s"],
    [90_000, "1m30s"],
    [3_600_000, "1h0m0s"],
    [5_400_000, "1h30m0s"],
    [86_400_000, "24h0m0s"],
    [-90_000, "-1m30s"],
    [61_500, "1m1.5s"],
  ])("%s ms → %s", (ms, s) => {
    expect(formatDuration(ms)).toBe(s);
  });

  it("round-trips through parseDuration", () => {
    for (const ms of [0, 1, 1.5, 1000, 61_500, 5_415_000, 0.000123]) {
      expect(parseDuration(formatDuration(ms))).toBeCloseTo(ms, 9);
    }
  });
});
