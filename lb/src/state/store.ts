// Persistence of servers changed through the API.
//
// The state file holds an overlay over the config file's servers:
//   { "version": 1, "servers": { "<name>": <server config> | null } }
// A config is a server created or updated through the API; null marks a config-file server
// deleted through the API. At start and on reload the overlay is applied over the file's servers:
// API changes win. Every write is atomic (temp file, fsync, rename, fsync of the folder), so a
// kill -9 at any moment leaves either the old or the new state, and a write is acknowledged only
// after it is durable.
import { randomBytes } from "node:crypto";
import { constants, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { mkdir, open, rename } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { serverNameProblem, validateServer } from "../config";
import type { ConnectionOptions, ServerConfig } from "../config/types";

export const STATE_VERSION = 1;

export type Overlay = Map<string, ServerConfig | null>;

export interface LoadedState {
  overlay: Overlay;
  /** Set when the file was unreadable or invalid and was moved aside to this path. */
  setAside?: string;
  /** What was wrong with a set-aside file. */
  problems: string[];
}

export class StateStore {
  constructor(readonly path: string) {}

  /**
   * Reads the overlay. A missing file is an empty overlay. A corrupt or invalid file is renamed
   * to `<path>.corrupt-<timestamp>` (never deleted) and reported; the balancer then starts from
   * its config file alone.
   */
  load(defaults: ConnectionOptions): LoadedState {
    this.removeStaleTempFiles();
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT")
        return { overlay: new Map(), problems: [] };
      throw err;
    }
    const problems: string[] = [];
    const overlay: Overlay = new Map();
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      problems.push(`not valid JSON: ${(err as Error).message}`);
    }
    if (problems.length === 0) {
      const d = doc as { version?: unknown; servers?: unknown };
      if (typeof d !== "object" || d === null || Array.isArray(d)) {
        problems.push("expected a JSON object");
      } else if (d.version !== STATE_VERSION) {
        problems.push(`version: expected ${STATE_VERSION}, got ${JSON.stringify(d.version)}`);
      } else if (typeof d.servers !== "object" || d.servers === null || Array.isArray(d.servers)) {
        problems.push(`servers: expected an object, got ${JSON.stringify(d.servers)}`);
      } else {
        for (const [name, raw] of Object.entries(d.servers as Record<string, unknown>)) {
          // The file is trusted no more than the API: a name the API refuses never loads.
          const badName = serverNameProblem(name);
          if (badName) {
            problems.push(`servers[${JSON.stringify(name)}]: ${badName}`);
            continue;
          }
          if (raw === null) {
            overlay.set(name, null);
            continue;
          }
          try {
            overlay.set(name, validateServer(name, raw, defaults).server);
          } catch (err) {
            problems.push((err as Error).message);
          }
        }
      }
    }
    if (problems.length === 0) return { overlay, problems };
    const setAside = `${this.path}.corrupt-${new Date().toISOString().replace(/[:.]/g, "-")}`;
    renameSync(this.path, setAside);
    return { overlay: new Map(), setAside, problems };
  }

  /**
   * A temp file left by a kill during save() holds a write that was never renamed into place,
   * hence never acknowledged: it is safe to remove.
   */
  private removeStaleTempFiles(): void {
    const prefix = `.${basename(this.path)}.tmp-`;
    let names: string[];
    try {
      names = readdirSync(dirname(this.path));
    } catch {
      return;
    }
    for (const name of names) {
      if (name.startsWith(prefix)) rmSync(join(dirname(this.path), name), { force: true });
    }
  }

  /**
   * Writes the overlay durably; resolves once it is on disk. Asynchronous so that an fsync never
   * stalls the data path; callers serialize saves.
   */
  async save(overlay: Overlay): Promise<void> {
    const doc = { version: STATE_VERSION, servers: Object.fromEntries(overlay) };
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true });
    // Unpredictable, created exclusively and never through a symlink: a link planted under a
    // guessable name would otherwise make this write (secrets included) land in another file.
    const tmp = join(
      dir,
      `.${basename(this.path)}.tmp-${process.pid}-${randomBytes(8).toString("hex")}`,
    );
    const file = await open(
      tmp,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      await file.writeFile(`${JSON.stringify(doc, null, 2)}\n`);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, this.path);
    const folder = await open(dir, "r");
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
  }
}

/** The config file's servers with the API overlay applied. */
export function applyOverlay(
  fileServers: Record<string, ServerConfig>,
  overlay: Overlay,
): Record<string, ServerConfig> {
  const out: Record<string, ServerConfig> = { ...fileServers };
  for (const [name, cfg] of overlay) {
    if (cfg === null) delete out[name];
    else out[name] = cfg;
  }
  return out;
}
