// Structured logging through pino. "json" writes pino's JSON lines; "text" renders the same
// records in gobetween's layout: `YYYY-MM-DD HH:MM:SS [LEVEL] (component): message key=value`.
import { openSync } from "node:fs";
import pino from "pino";
import type { LoggingConfig } from "../config/types";

export type Logger = pino.Logger;

const LEVEL_NAMES: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARN",
  50: "ERROR",
  60: "FATAL",
};
const OMITTED_KEYS = new Set(["level", "time", "pid", "hostname", "component", "msg"]);

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Formats one pino JSON record as a gobetween-style text line. */
export function formatTextRecord(record: Record<string, unknown>): string {
  const t = new Date(typeof record.time === "number" ? record.time : Date.now());
  const stamp = `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`;
  const level = LEVEL_NAMES[record.level as number] ?? String(record.level);
  const component = record.component ? ` (${record.component})` : "";
  let extra = "";
  for (const [k, v] of Object.entries(record)) {
    if (OMITTED_KEYS.has(k)) continue;
    extra += ` ${k}=${typeof v === "string" ? v : JSON.stringify(v)}`;
  }
  return `${stamp} [${level}]${component}: ${record.msg ?? ""}${extra}\n`;
}

function openOutput(output: string): number {
  if (output === "stdout" || output === "") return 1;
  if (output === "stderr") return 2;
  return openSync(output, "a", 0o644);
}

export function createLogger(cfg: LoggingConfig): Logger {
  const fd = openOutput(cfg.output);
  const sink = pino.destination({ dest: fd, sync: true });
  const stream =
    cfg.format === "json"
      ? sink
      : {
          write(line: string): void {
            sink.write(formatTextRecord(JSON.parse(line)));
          },
        };
  return pino({ level: cfg.level, base: { pid: process.pid } }, stream);
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
