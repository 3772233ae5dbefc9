/** The live connections (or UDP sessions) of a front end, with a wait for "all gone". */
export class ActiveSet<T> {
  private readonly items = new Set<T>();
  private waiters: Array<() => void> = [];

  get size(): number {
    return this.items.size;
  }

  add(item: T): void {
    this.items.add(item);
  }

  delete(item: T): void {
    if (this.items.delete(item) && this.items.size === 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    }
  }

  snapshot(): T[] {
    return [...this.items];
  }

  /** Resolves true once empty, or false when `timeoutMs` passes first (Infinity = no limit). */
  waitEmpty(timeoutMs: number): Promise<boolean> {
    if (this.items.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = (): void => {
        if (timer) clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(wake);
      if (Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== wake);
          resolve(false);
        }, timeoutMs);
      }
    });
  }
}
