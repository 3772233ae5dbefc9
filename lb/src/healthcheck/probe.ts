// "probe": send `probe_send` and read exactly N bytes back within the timeout, over TCP or UDP.
//   N = probe_recv_len if > 0, else the byte length of the decoded probe_recv.
//   starts_with (default): healthy iff the N bytes equal the decoded probe_recv.
//   regexp: healthy iff the regular expression probe_recv (not unescaped) matches the N bytes
//   decoded as UTF-8 (unanchored; RE2 syntax, linear-time matching: config/re2).
// Any connect / write / read error, a close before N bytes, or the timeout → unhealthy.
// The timeout bounds the whole check (gobetween applies it to connect, write and read separately).
// For UDP the reply may arrive in several datagrams totalling N bytes; extra bytes are ignored.
// probe_protocol "tls" (gobetween 0.8) is not part of our config model.
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { lookup } from "node:dns";
import { connect, isIP } from "node:net";
import { unbracketHost } from "../config";
import { decodeGoString } from "../config/go-string";
import { compileRe2 } from "../config/re2";
import type { HealthcheckConfig } from "../config/types";
import { type CheckResult, type HealthCheck, settleOnce } from "./check";

export interface ProbeSpec {
  protocol: "tcp" | "udp";
  send: Buffer;
  recvLen: number;
  matches: (reply: Buffer) => boolean;
}

/** Builds the probe from the config. Throws on a bad escape, a bad regexp or a missing length. */
export function probeSpec(cfg: HealthcheckConfig): ProbeSpec {
  const protocol = cfg.probe_protocol ?? "tcp";
  const send = decodeGoString(cfg.probe_send ?? "");
  const strategy = cfg.probe_strategy ?? "starts_with";
  if (strategy === "regexp") {
    const recvLen = cfg.probe_recv_len ?? 0;
    if (!(recvLen > 0)) throw new Error("probe_recv_len must be > 0 with probe_strategy regexp");
    const re = compileRe2(cfg.probe_recv ?? "");
    return { protocol, send, recvLen, matches: (reply) => re.test(reply.toString("utf8")) };
  }
  const expected = decodeGoString(cfg.probe_recv ?? "");
  const recvLen =
    cfg.probe_recv_len && cfg.probe_recv_len > 0 ? cfg.probe_recv_len : expected.length;
  return { protocol, send, recvLen, matches: (reply) => reply.equals(expected) };
}

function verdict(spec: ProbeSpec, chunks: Buffer[]): CheckResult {
  const reply = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  return spec.matches(reply.subarray(0, spec.recvLen)) ? "healthy" : "unhealthy";
}

function tcpProbe(spec: ProbeSpec): HealthCheck {
  return (host, port, timeoutMs, signal) => {
    const socket = connect({ host: unbracketHost(host), port });
    const { promise, finish } = settleOnce(timeoutMs, signal, () => socket.destroy());
    const chunks: Buffer[] = [];
    let received = 0;
    socket.on("error", () => finish("unhealthy"));
    socket.on("close", () => finish("unhealthy"));
    socket.on("end", () => finish("unhealthy"));
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= spec.recvLen) finish(verdict(spec, chunks));
    });
    socket.once("connect", () => {
      socket.write(spec.send, (err) => {
        if (err) finish("unhealthy");
        else if (spec.recvLen === 0) finish(verdict(spec, [Buffer.alloc(0)]));
      });
    });
    return promise;
  };
}

function udpProbe(spec: ProbeSpec): HealthCheck {
  return (host, port, timeoutMs, signal) => {
    let socket: UdpSocket | undefined;
    const { promise, finish, done } = settleOnce(timeoutMs, signal, () => socket?.close());
    const start = (address: string, family: number): void => {
      if (done()) return;
      const s = createSocket(family === 6 ? "udp6" : "udp4");
      socket = s;
      const chunks: Buffer[] = [];
      let received = 0;
      s.on("error", () => finish("unhealthy")); // e.g. ECONNREFUSED from an ICMP unreachable
      s.on("message", (msg) => {
        chunks.push(msg);
        received += msg.length;
        if (received >= spec.recvLen) finish(verdict(spec, chunks));
      });
      s.connect(port, address, () => {
        if (done()) return;
        s.send(spec.send, (err) => {
          if (err) finish("unhealthy");
          else if (spec.recvLen === 0) finish(verdict(spec, [Buffer.alloc(0)]));
        });
      });
    };
    const target = unbracketHost(host);
    const family = isIP(target);
    if (family !== 0) {
      start(target, family);
    } else {
      lookup(target, (err, address, fam) => {
        if (err) finish("unhealthy");
        else start(address, fam);
      });
    }
    return promise;
  };
}

/** A probe healthcheck for `cfg` (escapes decoded and regexp compiled once, here). */
export function createProbeCheck(cfg: HealthcheckConfig): HealthCheck {
  const spec = probeSpec(cfg);
  return spec.protocol === "udp" ? udpProbe(spec) : tcpProbe(spec);
}
