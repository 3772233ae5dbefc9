// Per-fetch warnings (skipped lines, skipped containers) that repeat on every poll are logged once:
// a note is logged when it first appears and again only after it was absent for a whole fetch.
import type { Logger } from "../log/logger";

export class Notes {
  private previous = new Set<string>();
  private current = new Set<string>();

  constructor(
    private readonly log: Logger,
    private readonly level: "warn" | "debug" = "warn",
  ) {}

  /** Starts a fetch's set of notes. */
  begin(): void {
    this.current = new Set();
  }

  note(fields: Record<string, unknown>, msg: string): void {
    const key = `${msg} ${JSON.stringify(fields)}`;
    if (this.current.has(key)) return;
    this.current.add(key);
    if (!this.previous.has(key)) this.log[this.level](fields, msg);
  }

  /** Ends a successful fetch: its notes become the ones not to repeat. */
  end(): void {
    this.previous = this.current;
  }
}
