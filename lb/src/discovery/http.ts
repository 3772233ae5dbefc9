// Small HTTP(S) client for the discovery kinds, on node:http/node:https: GET a whole body, or
// follow a streamed body chunk by chunk (Docker events). Unix sockets, client certificates and
// keep-alive agents are supported; every call honours an AbortSignal.
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { joinHostPort, unbracketHost } from "../config";
import { isLinkLocalOrMetadata } from "../config/address";
import { abortError } from "./abort";
import { guardedLookup } from "./guard";

export interface TlsFiles {
  cert?: string;
  key?: string;
  ca?: string;
}

export interface HttpTarget {
  /** "http:" or "https:". */
  protocol: "http:" | "https:";
  host: string;
  port: number;
  /** Connect to this unix socket instead of host:port. */
  socketPath?: string;
  /** Client certificate, key and CA file paths (https only); read on every request. */
  tls?: TlsFiles;
  /** Verify the server certificate (default true). */
  rejectUnauthorized?: boolean;
  agent?: http.Agent;
  /** Refuse link-local and metadata addresses, resolved or literal (servers from the API). */
  refuseLinkLocal?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Bodies larger than this are refused (a runaway source must not exhaust memory). */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;

/** A keep-alive agent for a target (reuse it across requests; destroy it when done). */
export function keepAliveAgent(protocol: "http:" | "https:"): http.Agent {
  const opts = { keepAlive: true, maxSockets: 4, maxFreeSockets: 2, timeout: 60_000 };
  return protocol === "https:" ? new https.Agent(opts) : new http.Agent(opts);
}

/** Parses an http(s) URL into a target. */
export function targetFromUrl(url: string): { target: HttpTarget; path: string } {
  const u = new URL(url);
  const protocol = u.protocol === "https:" ? "https:" : "http:";
  const host = unbracketHost(u.hostname);
  const port = u.port === "" ? (protocol === "https:" ? 443 : 80) : Number(u.port);
  return { target: { protocol, host, port }, path: `${u.pathname}${u.search}` };
}

function describe(target: HttpTarget, path: string): string {
  if (target.socketPath) return `GET unix://${target.socketPath}${path}`;
  return `GET ${target.protocol}//${joinHostPort(target.host, target.port)}${path}`;
}

function readTls(tls: TlsFiles | undefined): { cert?: Buffer; key?: Buffer; ca?: Buffer } {
  if (!tls) return {};
  const read = (what: string, path: string | undefined): Buffer | undefined => {
    if (!path) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read TLS ${what} ${path}: ${(err as Error).message}`);
    }
  };
  return { cert: read("certificate", tls.cert), key: read("key", tls.key), ca: read("CA", tls.ca) };
}

function open(
  target: HttpTarget,
  path: string,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<http.IncomingMessage> {
  const what = describe(target, path);
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError(what, signal));
    if (target.refuseLinkLocal && !target.socketPath && isLinkLocalOrMetadata(target.host)) {
      return reject(
        new Error(
          `${what}: ${target.host} is a link-local or metadata address (api.allow_link_local_discovery)`,
        ),
      );
    }
    const base: http.RequestOptions = {
      method: "GET",
      path,
      headers: { host: target.socketPath ? "docker" : target.host, ...headers },
      // A keep-alive agent's sockets were opened through the same guard.
      agent: target.agent,
      signal,
      ...(target.refuseLinkLocal ? { lookup: guardedLookup } : {}),
    };
    let req: http.ClientRequest;
    try {
      if (target.socketPath) {
        req = http.request({ ...base, socketPath: target.socketPath });
      } else if (target.protocol === "https:") {
        req = https.request({
          ...base,
          host: target.host,
          port: target.port,
          ...readTls(target.tls),
          rejectUnauthorized: target.rejectUnauthorized ?? true,
        });
      } else {
        req = http.request({ ...base, host: target.host, port: target.port });
      }
    } catch (err) {
      return reject(new Error(`${what}: ${(err as Error).message}`));
    }
    req.on("response", resolve);
    req.on("error", (err) =>
      reject(signal.aborted ? abortError(what, signal) : new Error(`${what}: ${err.message}`)),
    );
    req.end();
  });
}

/** GETs `path`; resolves with status, headers and the whole body (any status). */
export async function httpGet(
  target: HttpTarget,
  path: string,
  signal: AbortSignal,
  headers: Record<string, string> = {},
): Promise<HttpResponse> {
  const what = describe(target, path);
  const res = await open(target, path, headers, signal);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        res.destroy(new Error(`response larger than ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(c);
    });
    res.on("end", () =>
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
    );
    res.on("error", (err) =>
      reject(signal.aborted ? abortError(what, signal) : new Error(`${what}: ${err.message}`)),
    );
  });
}

/**
 * Parses a JSON body. The error gives the body's size, never its text: a discovery URL may point
 * at something secret, and errors are logged and shown by the API.
 */
export function parseJsonBody(body: Buffer, what: string): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new Error(`${what}: body is not JSON (${body.length} bytes, not quoted)`);
  }
}

/** GETs `path` and rejects unless the status is 2xx (the error gives the status, not the body). */
export async function httpGetOk(
  target: HttpTarget,
  path: string,
  signal: AbortSignal,
  headers: Record<string, string> = {},
): Promise<HttpResponse> {
  const res = await httpGet(target, path, signal, headers);
  if (res.status < 200 || res.status > 299) {
    throw new Error(`${describe(target, path)}: HTTP ${res.status} (${res.body.length} bytes)`);
  }
  return res;
}

/**
 * GETs a streamed body: `onOpen` once the 2xx headers arrived, `onLine` for every
 * newline-terminated line (lines longer than 1 MiB fail the stream). Resolves when the server
 * ends the body, rejects on errors; returns at once after `signal` aborts.
 */
export async function httpStreamLines(
  target: HttpTarget,
  path: string,
  signal: AbortSignal,
  onOpen: () => void,
  onLine: (line: string) => void,
): Promise<void> {
  const what = describe(target, path);
  const res = await open(target, path, {}, signal);
  if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) > 299) {
    res.resume();
    throw new Error(`${what}: HTTP ${res.statusCode}`);
  }
  onOpen();
  return new Promise((resolve, reject) => {
    let pending = "";
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      pending += chunk;
      let nl = pending.indexOf("\n");
      while (nl >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line !== "") onLine(line);
        nl = pending.indexOf("\n");
      }
      if (pending.length > 1024 * 1024) res.destroy(new Error("line longer than 1 MiB"));
    });
    res.on("end", () => resolve());
    res.on("close", () => resolve());
    res.on("error", (err) =>
      signal.aborted ? resolve() : reject(new Error(`${what}: ${err.message}`)),
    );
  });
}
