// Config values that parse but cannot work: placeholders shipped in Pulumi.prod.yaml and
// documentation examples. Each would cost a 20-minute SSH timeout at the first remote command
// instead of a clear error before anything is created.
import { parseCidr } from "./render/net";

/** RFC 5737 documentation ranges: no client ever has these addresses. */
export const DOCUMENTATION_RANGES = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"] as const;

/** The documentation range `value` lies in (so it admits nobody real), if any. */
export function documentationRange(value: string): string | undefined {
  const c = parseCidr(value);
  if (!c) return undefined;
  return DOCUMENTATION_RANGES.find((range) => {
    const d = parseCidr(range)!;
    return c.prefix >= d.prefix && c.base >= d.base && c.base < d.base + 2 ** (32 - d.prefix);
  });
}

/**
 * Public keys shipped as placeholders (Pulumi.prod.yaml): nobody holds their private halves, so
 * every SSH step would time out.
 */
export const PLACEHOLDER_PUBLIC_KEYS = [
  "AAAAC3NzaC1lZDI1NTE5AAAAIPYPSiZl3JkY7chdHAyPatrmd3HHdXmN7pn0QXgQOHcs",
] as const;
const EXAMPLE_MARK = /example|placeholder|replace|changeme|your[-_ ]?key|(.)\1{7}/i;
const PUT_A_KEY =
  "put your own key there: the contents of ~/.ssh/geoswarm.pub (ssh-keygen -t ed25519 -f ~/.ssh/geoswarm), see docs/deploy.md";

/**
 * The body of an OpenSSH key is length-prefixed fields (RFC 4253 §6.6): the type again, then
 * the key: one 32-byte field for ed25519, two for RSA (e, n) and ECDSA (curve, point).
 */
function wellFormedKey(type: string, bytes: Buffer): boolean {
  const fields: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    if (at + 4 > bytes.length) return false;
    const n = bytes.readUInt32BE(at);
    if (at + 4 + n > bytes.length) return false;
    fields.push(bytes.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  if (fields[0]?.toString("latin1") !== type) return false;
  return type === "ssh-ed25519"
    ? fields.length === 2 && fields[1].length === 32
    : fields.length === 3 && fields.every((f) => f.length > 0);
}

/** Why an OpenSSH public-key line cannot be the operator's real key, if it cannot. */
export function publicKeyProblem(line: string): string | undefined {
  const [type, body = "", ...comment] = line.trim().split(/\s+/);
  if ((PLACEHOLDER_PUBLIC_KEYS as readonly string[]).includes(body)) {
    return `is the placeholder key shipped in Pulumi.prod.yaml; ${PUT_A_KEY}`;
  }
  const note = comment.join(" ");
  if (EXAMPLE_MARK.test(note)) return `its comment "${note}" marks it as an example; ${PUT_A_KEY}`;
  if (EXAMPLE_MARK.test(body)) return `its body marks it as an example; ${PUT_A_KEY}`;
  if (!wellFormedKey(type, Buffer.from(body, "base64"))) {
    return `the key body does not encode a ${type} key (truncated or mistyped); ${PUT_A_KEY}`;
  }
  return undefined;
}
