// What @pulumi/tls computes, computed for real (node:crypto for keys, openssl for requests and
// certificates), honouring the inputs the program passes: subject, IP and DNS SANs, allowedUses,
// isCaCertificate, validityPeriodHours.
import { execFileSync } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

type Inputs = Record<string, any>;

const KEY_USAGE: Record<string, string> = {
  digital_signature: "digitalSignature",
  content_commitment: "nonRepudiation",
  key_encipherment: "keyEncipherment",
  data_encipherment: "dataEncipherment",
  key_agreement: "keyAgreement",
  cert_signing: "keyCertSign",
  crl_signing: "cRLSign",
  encipher_only: "encipherOnly",
  decipher_only: "decipherOnly",
};
const EXT_KEY_USAGE: Record<string, string> = {
  server_auth: "serverAuth",
  client_auth: "clientAuth",
  code_signing: "codeSigning",
  email_protection: "emailProtection",
  timestamping: "timeStamping",
  ocsp_signing: "OCSPSigning",
  any_extended: "anyExtendedKeyUsage",
};

/** tls:index/privateKey:PrivateKey — ECDSA (P224/P256/P384/P521) or RSA, PEM as the provider writes it. */
export function privateKey(i: Inputs): Record<string, string> {
  if (i.algorithm === "ECDSA") {
    const curve = { P224: "P-224", P256: "P-256", P384: "P-384", P521: "P-521" }[
      (i.ecdsaCurve ?? "P224") as string
    ];
    if (!curve) throw new Error(`rehearsal tls: ecdsaCurve ${i.ecdsaCurve} is not supported`);
    const k = generateKeyPairSync("ec", {
      namedCurve: curve,
      privateKeyEncoding: { type: "sec1", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    return { privateKeyPem: k.privateKey, publicKeyPem: k.publicKey };
  }
  if (i.algorithm === "RSA") {
    const k = generateKeyPairSync("rsa", {
      modulusLength: i.rsaBits ?? 2048,
      privateKeyEncoding: { type: "pkcs1", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    return { privateKeyPem: k.privateKey, publicKeyPem: k.publicKey };
  }
  throw new Error(`rehearsal tls: algorithm ${i.algorithm} is not supported`);
}

function subjectArg(s: Inputs | undefined): string {
  const parts: [string, string | undefined][] = [
    ["C", s?.country],
    ["ST", s?.province],
    ["L", s?.locality],
    ["O", s?.organization],
    ["OU", s?.organizationalUnit],
    ["CN", s?.commonName],
  ];
  const esc = (v: string) => v.replace(/([/=\\])/g, "\\$1");
  const out = parts
    .filter(([, v]) => v)
    .map(([k, v]) => `/${k}=${esc(v as string)}`)
    .join("");
  return out || "/";
}

function extensions(lines: string[]): string {
  return `[req]\ndistinguished_name = dn\n[dn]\n[ext]\n${lines.join("\n")}\n`;
}

function usageLines(uses: string[] = [], ca: boolean): string[] {
  const ku = uses.filter((u) => KEY_USAGE[u]).map((u) => KEY_USAGE[u]);
  const eku = uses.filter((u) => EXT_KEY_USAGE[u]).map((u) => EXT_KEY_USAGE[u]);
  const unknown = uses.filter((u) => !KEY_USAGE[u] && !EXT_KEY_USAGE[u]);
  if (unknown.length) throw new Error(`rehearsal tls: allowedUses ${unknown.join(", ")} unknown`);
  const lines = [ca ? "basicConstraints = critical,CA:TRUE" : "basicConstraints = CA:FALSE"];
  if (ku.length) lines.push(`keyUsage = critical,${ku.join(",")}`);
  if (eku.length) lines.push(`extendedKeyUsage = ${eku.join(",")}`);
  lines.push("subjectKeyIdentifier = hash");
  return lines;
}

function sanLine(i: Inputs): string[] {
  const sans = [
    ...((i.ipAddresses ?? []) as string[]).map((ip) => `IP:${ip}`),
    ...((i.dnsNames ?? []) as string[]).map((d) => `DNS:${d}`),
    ...((i.uris ?? []) as string[]).map((u) => `URI:${u}`),
  ];
  return sans.length ? [`subjectAltName = ${sans.join(",")}`] : [];
}

function withFiles<T>(files: Record<string, string>, fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "rehearsal-tls-"));
  try {
    for (const [n, text] of Object.entries(files))
      writeFileSync(join(dir, n), text, { mode: 0o600 });
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const openssl = (args: string[]) =>
  execFileSync("openssl", args, { stdio: ["ignore", "pipe", "pipe"] });
const days = (hours: number | undefined) => String(Math.max(1, Math.ceil((hours ?? 24) / 24)));
const serial = () =>
  `0x${randomBytes(16)
    .toString("hex")
    .replace(/^[89a-f]/, "1")}`;

/** tls:index/certRequest:CertRequest */
export function certRequest(i: Inputs): Record<string, string> {
  return withFiles({ "key.pem": i.privateKeyPem, "req.cnf": extensions(sanLine(i)) }, (dir) => {
    openssl([
      "req",
      "-new",
      "-key",
      join(dir, "key.pem"),
      "-subj",
      subjectArg(i.subject),
      "-config",
      join(dir, "req.cnf"),
      "-reqexts",
      "ext",
      "-out",
      join(dir, "req.pem"),
    ]);
    return { certRequestPem: readFileSync(join(dir, "req.pem"), "utf8") };
  });
}

/** tls:index/selfSignedCert:SelfSignedCert */
export function selfSignedCert(i: Inputs): Record<string, unknown> {
  const ca = i.isCaCertificate === true;
  return withFiles(
    {
      "key.pem": i.privateKeyPem,
      "x.cnf": extensions([...usageLines(i.allowedUses, ca), ...sanLine(i)]),
    },
    (dir) => {
      openssl([
        "req",
        "-x509",
        "-new",
        "-key",
        join(dir, "key.pem"),
        "-subj",
        subjectArg(i.subject),
        "-days",
        days(i.validityPeriodHours),
        "-set_serial",
        serial(),
        "-config",
        join(dir, "x.cnf"),
        "-extensions",
        "ext",
        "-out",
        join(dir, "cert.pem"),
      ]);
      return certOutputs(readFileSync(join(dir, "cert.pem"), "utf8"), i.validityPeriodHours);
    },
  );
}

/** tls:index/locallySignedCert:LocallySignedCert: the request's SANs and subject, the CA's signature. */
export function locallySignedCert(i: Inputs): Record<string, unknown> {
  return withFiles(
    {
      "req.pem": i.certRequestPem,
      "ca.pem": i.caCertPem,
      "cakey.pem": i.caPrivateKeyPem,
      "x.cnf": extensions([
        ...usageLines(i.allowedUses, i.isCaCertificate === true),
        "authorityKeyIdentifier = keyid",
      ]),
    },
    (dir) => {
      openssl([
        "x509",
        "-req",
        "-in",
        join(dir, "req.pem"),
        "-CA",
        join(dir, "ca.pem"),
        "-CAkey",
        join(dir, "cakey.pem"),
        "-set_serial",
        serial(),
        "-days",
        days(i.validityPeriodHours),
        "-extfile",
        join(dir, "x.cnf"),
        "-extensions",
        "ext",
        "-copy_extensions",
        "copy",
        "-out",
        join(dir, "cert.pem"),
      ]);
      return certOutputs(readFileSync(join(dir, "cert.pem"), "utf8"), i.validityPeriodHours);
    },
  );
}

function certOutputs(certPem: string, hours: number | undefined): Record<string, unknown> {
  const start = new Date();
  const end = new Date(start.getTime() + (hours ?? 24) * 3600_000);
  return {
    certPem,
    validityStartTime: start.toISOString(),
    validityEndTime: end.toISOString(),
    readyForRenewal: false,
  };
}

/** random:index/randomPassword:RandomPassword and RandomString: `length` characters from the allowed classes. */
export function randomPassword(i: Inputs): Record<string, string> {
  let alphabet = "";
  if (i.lower !== false) alphabet += "abcdefghijklmnopqrstuvwxyz";
  if (i.upper !== false) alphabet += "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  if (i.numeric !== false) alphabet += "0123456789";
  if (i.special !== false) alphabet += i.overrideSpecial ?? "!@#$%&*()-_=+[]{}<>:?";
  const bytes = randomBytes(i.length ?? 16);
  const result = [...bytes].map((b) => alphabet[b % alphabet.length]).join("");
  return { result };
}

/** random:index/randomBytes:RandomBytes */
export function randomBytesOutputs(i: Inputs): Record<string, string> {
  const b = randomBytes(i.length ?? 32);
  return { base64: b.toString("base64"), hex: b.toString("hex") };
}
