// [logging]: level, output and format.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger, formatTextRecord } from "../../../lb/src/log/logger";

const dir = mkdtempSync(join(tmpdir(), "geoswarm-log-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("logger", () => {
  it("formats text records in gobetween's layout", () => {
    const time = new Date(2024, 0, 2, 3, 4, 5).getTime();
    const line = formatTextRecord({
      level: 40,
      time,
      pid: 1,
      component: "server",
      msg: "backend is unhealthy",
      backend: "10.0.0.1:80",
      live: false,
    });
    expect(line).toBe(
      "2024-01-02 03:04:05 [WARN] (server): backend is unhealthy backend=10.0.0.1:80 live=false\n",
    );
  });

  it("writes to a file at the configured level, as text or JSON", () => {
    const textPath = join(dir, "text.log");
    const text = createLogger({ level: "warn", output: textPath, format: "text" });
    text.info("not written");
    text.child({ component: "server" }).warn({ server: "web" }, "written");
    expect(readFileSync(textPath, "utf8")).toMatch(
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[WARN\] \(server\): written server=web\n$/,
    );

    const jsonPath = join(dir, "json.log");
    const json = createLogger({ level: "debug", output: jsonPath, format: "json" });
    json.trace("not written");
    json.debug({ backend: "a:1" }, "written");
    const lines = readFileSync(jsonPath, "utf8").trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({ level: 20, msg: "written", backend: "a:1" });
  });
});
