// A minimal DNS client over UDP or TCP, to one configured server, on `dns-packet` for the wire
// format. Node's dns.Resolver can only use UDP (with c-ares' own retries) and cannot be told to
// use TCP, which `srv_dns_protocol = "tcp"` needs; one small client serves both.
//   UDP: EDNS0 with a 4096-byte payload (as gobetween's miekg/dns query), the question is re-sent
//   every second until an answer or the caller's signal; a truncated answer is retried over TCP.
//   TCP: one connection per query, 2-byte length prefix.
// Replies are matched by id and question; anything else is ignored.
import { randomInt } from "node:crypto";
import dgram from "node:dgram";
import net from "node:net";
import dnsPacket, { type DecodedPacket, type RecordType } from "dns-packet";
import { abortError } from "./abort";

export type DnsProtocol = "udp" | "tcp";

export interface DnsServer {
  host: string;
  port: number;
}

export type DnsReply = DecodedPacket & { rcode?: string };

const UDP_RESEND_MS = 1000;

function queryPacket(id: number, name: string, type: RecordType): dnsPacket.Packet {
  return {
    type: "query",
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: "IN" }],
    additionals: [{ type: "OPT", name: ".", udpPayloadSize: 4096, flags: 0 } as dnsPacket.Answer],
  };
}

function matches(reply: DnsReply, id: number, name: string, type: RecordType): boolean {
  const q = reply.questions?.[0];
  return (
    reply.id === id &&
    reply.type === "response" &&
    q !== undefined &&
    q.type === type &&
    q.name.toLowerCase() === name.replace(/\.$/, "").toLowerCase()
  );
}

export async function dnsQuery(
  server: DnsServer,
  protocol: DnsProtocol,
  name: string,
  type: RecordType,
  signal: AbortSignal,
): Promise<DnsReply> {
  if (protocol === "udp") {
    const reply = await udpQuery(server, name, type, signal);
    if (!reply.flag_tc) return reply;
  }
  return tcpQuery(server, name, type, signal);
}

function udpQuery(
  server: DnsServer,
  name: string,
  type: RecordType,
  signal: AbortSignal,
): Promise<DnsReply> {
  const what = `DNS ${type} ${name} via udp ${server.host}:${server.port}`;
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError(what, signal));
    const id = randomInt(0, 65536);
    const packet = dnsPacket.encode(queryPacket(id, name, type));
    const socket = dgram.createSocket(net.isIPv6(server.host) ? "udp6" : "udp4");
    let timer: NodeJS.Timeout | undefined;
    const done = (err: Error | null, reply?: DnsReply): void => {
      if (timer) clearInterval(timer);
      signal.removeEventListener("abort", onAbort);
      socket.close();
      if (err) reject(err);
      else resolve(reply as DnsReply);
    };
    const onAbort = (): void => done(abortError(what, signal));
    signal.addEventListener("abort", onAbort, { once: true });
    socket.on("error", (err) => done(new Error(`${what}: ${err.message}`)));
    socket.on("message", (msg) => {
      let reply: DnsReply;
      try {
        reply = dnsPacket.decode(msg) as DnsReply;
      } catch {
        return;
      }
      if (matches(reply, id, name, type)) done(null, reply);
    });
    const send = (): void =>
      socket.send(packet, server.port, server.host, (err) => {
        if (err) done(new Error(`${what}: ${err.message}`));
      });
    send();
    timer = setInterval(send, UDP_RESEND_MS);
  });
}

function tcpQuery(
  server: DnsServer,
  name: string,
  type: RecordType,
  signal: AbortSignal,
): Promise<DnsReply> {
  const what = `DNS ${type} ${name} via tcp ${server.host}:${server.port}`;
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError(what, signal));
    const id = randomInt(0, 65536);
    const socket = net.connect({ host: server.host, port: server.port });
    let buf = Buffer.alloc(0);
    let settled = false;
    const done = (err: Error | null, reply?: DnsReply): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      if (err) reject(err);
      else resolve(reply as DnsReply);
    };
    const onAbort = (): void => done(abortError(what, signal));
    signal.addEventListener("abort", onAbort, { once: true });
    socket.on("connect", () => socket.write(dnsPacket.streamEncode(queryPacket(id, name, type))));
    socket.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        let reply: DnsReply;
        try {
          reply = dnsPacket.decode(msg) as DnsReply;
        } catch (err) {
          return done(new Error(`${what}: malformed reply (${(err as Error).message})`));
        }
        if (matches(reply, id, name, type)) return done(null, reply);
      }
    });
    socket.on("error", (err) => done(new Error(`${what}: ${err.message}`)));
    socket.on("close", () => done(new Error(`${what}: connection closed without an answer`)));
  });
}
