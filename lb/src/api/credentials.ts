// Basic-auth credential checks, shared by the API and /metrics.
import { createHash, timingSafeEqual } from "node:crypto";

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

/** Constant-time credential check: compares fixed-length digests, never the raw strings. */
export function credentialsMatch(
  login: string,
  password: string,
  expected: { login: string; password: string },
): boolean {
  const a = Buffer.concat([digest(login), digest(password)]);
  const b = Buffer.concat([digest(expected.login), digest(expected.password)]);
  return timingSafeEqual(a, b);
}
