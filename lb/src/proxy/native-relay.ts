// The native data path (lb/native/splice-relay.c, built into geoswarm-lb.node next to the
// bundled artifact): once a pair is connected, its bytes move in the kernel with splice() on the
// addon's own thread. JS keeps everything up to the hand-over (accept, access, balancing, retries,
// the PROXY header) and the accounting: byte counts come back in batches (every COLLECT_MS and
// exactly at close), and the close itself ends the pair as the JS relay's would.
//
// GEOSWARM_LB_NATIVE: unset = use the addon when it is there and passes its self-test, else JS;
// "0" = JS; "1" = the addon or fail at start-up (tests and benchmarks that must not measure the
// JS path by accident).
import { existsSync } from "node:fs";
import type { Socket } from "node:net";
import * as path from "node:path";
import type { Logger } from "../log/logger";
import type { RelayPair } from "./relay";

declare const GEOSWARM_LB_VERSION: string | undefined;

export const ADDON_FILE = "geoswarm-lb.node";

/** How often byte counts of open native pairs reach the stats. */
const COLLECT_MS = 500;

interface Addon {
  relay(
    clientFd: number,
    backendFd: number,
    clientIdleMs: number,
    backendIdleMs: number,
    prefix?: Buffer,
  ): number;
  destroy(id: number): boolean;
  collect(): Float64Array;
  onClose(cb: (id: number, tx: number, rx: number, reason: number) => void): void;
  unref(): void;
  counters(): { relayed: number; active: number; copying: number };
  selfTest(): boolean;
}

export interface DataPath {
  kind: "native" | "js";
  /** Why this path: shown in the start-up log line. */
  reason: string;
  /** The addon's file, when one was found. */
  file?: string;
}

/** Where the addon is looked for: next to the bundled artifact, or lb/dist from the sources. */
export function addonPath(): string {
  const bundled = typeof GEOSWARM_LB_VERSION === "string";
  return bundled
    ? path.join(__dirname, ADDON_FILE)
    : path.resolve(__dirname, "..", "..", "dist", ADDON_FILE);
}

let chosen: DataPath | undefined;
/** The addon, loaded at most once per thread (a Node-API addon cannot be unloaded). */
let loaded: { addon: Addon | null; reason: string } | undefined;
/** The addon when the chosen path is native: new pairs go to it. */
let addon: Addon | null = null;
const pairs = new Map<number, RelayPair>();
const kNativeId = Symbol("geoswarm.nativeId");
type NativePair = RelayPair & { [kNativeId]?: number };
let collector: NodeJS.Timeout | undefined;
let fallbacks = 0;
/** The last Balancer's logger: descriptor shortages are logged, never silent. */
let logger: Logger | undefined;
/** Warnings not yet logged (at most one line per WARN_MS and kind), and when each kind last was. */
const pendingWarn = { fallback: 0, copying: 0 };
const lastWarn = { fallback: 0, copying: 0 };
let copyingSeen = 0;
const WARN_MS = 1000;

function load(file: string): { addon: Addon | null; reason: string } {
  if (!existsSync(file)) return { addon: null, reason: `no native addon at ${file}` };
  try {
    const mod = { exports: {} as Addon };
    process.dlopen(mod, file);
    if (!mod.exports.selfTest()) {
      return { addon: null, reason: `${file} loaded, but splice() failed its self-test` };
    }
    mod.exports.onClose(onNativeClosed);
    return { addon: mod.exports, reason: `loaded ${file}` };
  } catch (err) {
    return { addon: null, reason: `${file} did not load: ${(err as Error).message}` };
  }
}

/**
 * Chooses this thread's data path from GEOSWARM_LB_NATIVE and the addon, and with a logger writes
 * the one line that says which path runs and why. Called by every Balancer start (a process has
 * one; tests start several, some pinning a path); without a logger, the last choice stands.
 * Throws when "1" asked for the addon and it cannot be used.
 */
export function selectDataPath(log?: Logger): DataPath {
  if (chosen && !log) return chosen;
  if (log) logger = log;
  const mode = process.env.GEOSWARM_LB_NATIVE ?? "";
  const file = addonPath();
  if (mode === "0") {
    chosen = { kind: "js", reason: "GEOSWARM_LB_NATIVE=0" };
    addon = null;
  } else {
    loaded ??= load(file);
    if (!loaded.addon && mode === "1") {
      throw new Error(
        `GEOSWARM_LB_NATIVE=1 but the native data path is unavailable: ${loaded.reason}`,
      );
    }
    addon = loaded.addon;
    chosen = { kind: addon ? "native" : "js", reason: loaded.reason, file };
  }
  if (log) {
    const msg = chosen.kind === "native" ? "data path: native (splice)" : "data path: JS";
    log.info({ data_path: chosen.kind, reason: chosen.reason }, msg);
  }
  return chosen;
}

/** Pairs the addon took over (ever, and open now); null when no addon was loaded. */
/**
 * Pairs the addon took over (ever, and open now), directions it copies without a pipe (none was
 * left), pairs kept in JS; null when no addon was loaded.
 */
export function nativeCounters(): {
  relayed: number;
  active: number;
  copying: number;
  fallbacks: number;
} | null {
  if (!loaded?.addon) return null;
  return { ...loaded.addon.counters(), fallbacks };
}

/** Logs `n` more events of `kind`, at most one line per WARN_MS (the rest go in the next one). */
function warn(kind: "fallback" | "copying", n: number, err?: string): void {
  pendingWarn[kind] += n;
  const now = Date.now();
  if (now - lastWarn[kind] < WARN_MS) return;
  lastWarn[kind] = now;
  const count = pendingWarn[kind];
  pendingWarn[kind] = 0;
  if (kind === "fallback") {
    logger?.warn(
      { pairs: count, fallbacks_total: fallbacks, error: err },
      "native data path: pairs kept on the JS path (the addon could not take them)",
    );
  } else {
    logger?.warn(
      { directions: count, copying_total: copyingSeen },
      "native data path: no descriptor left for a pipe, directions copy through a buffer instead",
    );
  }
}

function fdOf(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === "number" ? fd : -1;
}

function ignore(): void {}

/**
 * RelayPair.relay()'s hook: hands the connected pair to the addon. False means "relay in JS"
 * (JS path chosen, or this pair cannot be handed over: its backend still has queued writes).
 */
export function relayNatively(
  pair: RelayPair,
  upstream: Socket,
  clientIdleMs: number,
  backendIdleMs: number,
): boolean {
  if (!chosen) selectDataPath();
  if (!addon) return false;
  const client = pair.client;
  // The PROXY header is written synchronously in practice; if it is still queued, its order
  // against spliced bytes could not be kept.
  const cfd = fdOf(client);
  const bfd = fdOf(upstream);
  if (upstream.writableLength > 0 || client.writableLength > 0 || cfd < 0 || bfd < 0) {
    fallbacks++;
    return false;
  }
  // Client bytes JS already read (none with pauseOnConnect) go to the backend first.
  let prefix: Buffer | undefined;
  if (client.readableLength > 0) {
    const chunks: Buffer[] = [];
    for (let c = client.read() as Buffer | null; c !== null; c = client.read()) chunks.push(c);
    prefix = Buffer.concat(chunks);
    pair.onTx(prefix.length);
  }
  let id: number;
  try {
    id = addon.relay(cfd, bfd, clientIdleMs, backendIdleMs, prefix);
  } catch (err) {
    // e.g. out of descriptors for the duplicates: this pair stays in JS, bytes read so far first.
    if (prefix) upstream.write(prefix);
    fallbacks++;
    warn("fallback", 1, (err as Error).message);
    return false;
  }
  (pair as NativePair)[kNativeId] = id;
  pairs.set(id, pair);
  if (!collector) collector = setInterval(collect, COLLECT_MS).unref();
  // The addon relays on its own copies of the descriptors: JS's sockets close quietly.
  for (const s of [client, upstream]) {
    s.removeAllListeners();
    s.on("error", ignore);
    s.destroy();
  }
  return true;
}

/** RelayPair.destroyBoth()'s hook: true when the pair is (or was) native. */
export function destroyNative(pair: RelayPair): boolean {
  const id = (pair as NativePair)[kNativeId];
  if (id === undefined) return false;
  if (id !== 0) loaded?.addon?.destroy(id);
  return true;
}

function collect(): void {
  const native = loaded?.addon;
  if (!native) return;
  const copying = native.counters().copying;
  if (copying > copyingSeen || pendingWarn.copying > 0) {
    const more = copying - copyingSeen;
    copyingSeen = copying;
    warn("copying", more);
  }
  const batch = native.collect();
  for (let i = 0; i < batch.length; i += 3) {
    const pair = pairs.get(batch[i] as number);
    if (!pair) continue;
    if (batch[i + 1]) pair.onTx(batch[i + 1] as number);
    if (batch[i + 2]) pair.onRx(batch[i + 2] as number);
  }
}

function onNativeClosed(id: number, tx: number, rx: number, _reason: number): void {
  const pair = pairs.get(id);
  if (!pair) return;
  pairs.delete(id);
  (pair as NativePair)[kNativeId] = 0;
  if (tx) pair.onTx(tx);
  if (rx) pair.onRx(rx);
  if (pairs.size === 0) {
    clearInterval(collector);
    collector = undefined;
    loaded?.addon?.unref();
  }
  pair.onRelayClosed();
}
