// [servers.<name>.healthcheck]: kind, interval/timeout, fails/passes, initial_status and the
// probe_* / exec_* keys of each kind.

import { z } from "zod";
import { decodeGoString } from "../go-string";
import type { HealthcheckConfig, HealthcheckKind, Protocol } from "../types";
import { durationOrNull, keyOwner, oneOf, regexpProblem, type Section } from "./section";

export const HEALTHCHECK_KINDS: readonly HealthcheckKind[] = ["none", "ping", "probe", "exec"];

const HEALTHCHECK_KEYS: Record<Exclude<HealthcheckKind, "none" | "ping">, readonly string[]> = {
  probe: ["probe_protocol", "probe_strategy", "probe_send", "probe_recv", "probe_recv_len"],
  exec: ["exec_command", "exec_expected_positive_output", "exec_expected_negative_output"],
};

function noHealthcheck(): HealthcheckConfig {
  return {
    kind: "none",
    interval: "0",
    timeout: "0",
    fails: 1,
    passes: 1,
    initial_status: "healthy",
  };
}

export function readHealthcheck(s: Section | undefined, protocol: Protocol): HealthcheckConfig {
  if (!s) return noHealthcheck();
  let kind: HealthcheckKind | undefined;
  if (!s.has("kind")) {
    s.required("kind", oneOf(HEALTHCHECK_KINDS).replace("expected ", ""));
  } else {
    kind = s.read("kind", z.enum(HEALTHCHECK_KINDS as [HealthcheckKind]), oneOf(HEALTHCHECK_KINDS));
  }
  const out = noHealthcheck();
  if (kind) out.kind = kind;
  const interval = s.duration("interval");
  if (kind !== undefined && kind !== "none") {
    if (!s.has("interval")) {
      s.required(
        "interval",
        `a duration > 0 such as "5s" for healthcheck kind ${JSON.stringify(kind)}`,
      );
    } else if (interval !== undefined && durationOrNull(interval) === 0n) {
      s.invalid(
        "interval",
        `expected a duration > 0 such as "5s" for healthcheck kind ${JSON.stringify(kind)}`,
        interval,
      );
    }
  }
  out.interval = interval ?? "0";
  out.timeout = s.duration("timeout", "0");
  // gobetween turns fails/passes <= 0 into 1; we keep 0 → 1 and reject negatives.
  const fails = s.int("fails", 0, Number.MAX_SAFE_INTEGER, 1);
  const passes = s.int("passes", 0, Number.MAX_SAFE_INTEGER, 1);
  out.fails = fails === 0 ? 1 : fails;
  out.passes = passes === 0 ? 1 : passes;
  out.initial_status = s.enum("initial_status", ["healthy", "unhealthy"] as const, "healthy");

  if (kind === "ping" && protocol === "udp") {
    s.invalid(
      "kind",
      'expected "probe", "exec" or "none" for a udp server (ping is a TCP connect)',
      kind,
    );
  }
  if (kind === "probe") readProbe(s, out);
  if (kind === "exec") {
    const cmd = s.get("exec_command");
    if (!s.has("exec_command")) {
      s.required("exec_command", "path of one executable, called as <exec_command> <host> <port>");
    } else if (typeof cmd !== "string") {
      s.invalid(
        "exec_command",
        "expected a string (path of one executable, called as <exec_command> <host> <port>)",
        cmd,
      );
    } else out.exec_command = cmd;
    out.exec_expected_positive_output = s.str("exec_expected_positive_output", "");
    out.exec_expected_negative_output = s.str("exec_expected_negative_output", "");
  }
  s.finish((key) => {
    const owner = keyOwner(HEALTHCHECK_KEYS, key);
    if (owner === undefined) return undefined;
    if (kind === undefined) return "healthcheck kind is not valid";
    return `not used by healthcheck kind ${JSON.stringify(kind)}`;
  });
  return out;
}

function readProbe(s: Section, out: HealthcheckConfig): void {
  if (!s.has("probe_protocol")) {
    s.required("probe_protocol", '"tcp" or "udp"');
  } else {
    const raw = s.get("probe_protocol");
    if (raw === "tcp" || raw === "udp") out.probe_protocol = raw;
    else {
      const note = raw === "tls" ? " (TLS probes are not supported by geoswarm-lb)" : "";
      s.invalid("probe_protocol", oneOf(["tcp", "udp"]) + note, raw);
    }
  }
  const strategy = s.enum("probe_strategy", ["starts_with", "regexp"] as const, "starts_with");
  out.probe_strategy = strategy;
  const decoded = (key: string): string | undefined => {
    const v = s.needStr(key, "bytes to send; Go escapes such as \\n and \\x00 are decoded");
    if (v === undefined) return undefined;
    try {
      decodeGoString(v);
      return v;
    } catch (err) {
      s.invalid(key, `expected a string with valid Go escapes (${(err as Error).message})`, v);
      return undefined;
    }
  };
  out.probe_send = decoded("probe_send");
  const recvLen = s.int("probe_recv_len", 0, Number.MAX_SAFE_INTEGER, 0);
  if (strategy === "starts_with") {
    if (!s.has("probe_recv")) {
      s.required("probe_recv", "the bytes the reply must start with; Go escapes are decoded");
    } else out.probe_recv = decoded("probe_recv");
    if (recvLen > 0) {
      s.invalid(
        "probe_recv_len",
        'expected 0 or absent with probe_strategy "starts_with" (the length of probe_recv is used)',
        recvLen,
      );
    }
  } else {
    const re = s.needStr("probe_recv", "a regular expression the reply must match");
    if (re !== undefined) {
      const why = regexpProblem(re);
      if (why) s.invalid("probe_recv", `expected a valid regular expression (${why})`, re);
      else out.probe_recv = re;
    }
    if (
      recvLen === 0 &&
      s.report.errors.every((e) => !e.startsWith(`${s.at("probe_recv_len")}:`))
    ) {
      s.required(
        "probe_recv_len",
        'number of bytes to read, an integer > 0 with probe_strategy "regexp"',
      );
    }
  }
  out.probe_recv_len = recvLen;
  if (out.probe_send === undefined) delete out.probe_send;
  if (out.probe_recv === undefined) delete out.probe_recv;
}
