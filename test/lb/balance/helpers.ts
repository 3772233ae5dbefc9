import type { Backend } from "../../../lb/src/core/backend";
import { newBackend } from "../../../lb/src/core/backend-table";

export function backend(key: string, over: Partial<Backend> = {}): Backend {
  const i = key.lastIndexOf(":");
  const spec = {
    host: key.slice(0, i),
    port: Number(key.slice(i + 1)),
    weight: 1,
    priority: 1,
    max_connections: 0,
    sni: "",
  };
  return { ...newBackend(key, spec, true), ...over };
}

export function sortByKey(list: Backend[]): Backend[] {
  return [...list].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Deterministic PRNG (mulberry32) so that statistical tests are reproducible. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomIpv4(rnd: () => number): string {
  const o = () => Math.floor(rnd() * 256);
  return `${o()}.${o()}.${o()}.${o()}`;
}

export function randomIpv6(rnd: () => number): string {
  const g = () => Math.floor(rnd() * 65536).toString(16);
  return [g(), g(), g(), g(), g(), g(), g(), g()].join(":");
}

export function count(elect: () => Backend, n: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const k = elect().key;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}
