// [api.tls] serves the API over HTTPS with the configured certificate (a real self-signed one
// made by openssl), and [api] cors answers browser preflights.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUTH_HEADER, call, startWithApi } from "../support/api";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "lb-tls-"));
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
    ],
    { stdio: "ignore" },
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NO_SERVERS = "";

describe("api tls", () => {
  it("serves HTTPS with the configured certificate", async () => {
    const lb = await startWithApi(
      NO_SERVERS,
      `[api.tls]\ncert_path = "${join(dir, "cert.pem")}"\nkey_path = "${join(dir, "key.pem")}"`,
    );
    try {
      const ca = readFileSync(join(dir, "cert.pem"));
      const { status, body } = await new Promise<{ status: number; body: string }>(
        (resolve, reject) => {
          https
            .get(
              `https://${lb.apiAddress}/servers`,
              { ca, headers: { authorization: AUTH_HEADER } },
              (res) => {
                let body = "";
                res.on("data", (c) => {
                  body += c;
                });
                res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
              },
            )
            .on("error", reject);
        },
      );
      expect(status).toBe(200);
      expect(JSON.parse(body)).toEqual({});
      // Plain HTTP to the TLS port does not get an answer from the API.
      await expect(call(`http://${lb.apiAddress}`, "GET", "/ping")).rejects.toThrow();
    } finally {
      await lb.stop(0);
    }
  });
});

describe("api cors", () => {
  it("answers preflights and tags responses for the origins in cors_origins", async () => {
    const lb = await startWithApi(
      NO_SERVERS,
      "",
      'cors = true\ncors_origins = ["http://ui.example"]',
    );
    try {
      const pre = await fetch(`${lb.base}/servers/x`, {
        method: "OPTIONS",
        headers: {
          origin: "http://ui.example",
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type,authorization",
        },
      });
      expect(pre.status).toBe(204);
      expect(pre.headers.get("access-control-allow-origin")).toBe("http://ui.example");
      expect(pre.headers.get("access-control-allow-credentials")).toBe("true");
      expect(pre.headers.get("access-control-allow-methods")).toContain("PUT");
      expect(pre.headers.get("access-control-allow-headers")?.toLowerCase()).toContain(
        "content-type",
      );
      const get = await fetch(`${lb.base}/servers`, {
        headers: { origin: "http://ui.example", authorization: AUTH_HEADER },
      });
      expect(get.headers.get("access-control-allow-origin")).toBe("http://ui.example");
      // Any other origin: refused before auth, and never echoed.
      const other = await fetch(`${lb.base}/servers`, {
        headers: { origin: "http://evil.example", authorization: AUTH_HEADER },
      });
      expect(other.status).toBe(403);
      expect(other.headers.get("access-control-allow-origin")).toBeNull();
      expect(await other.text()).toContain("api.cors_origins");
    } finally {
      await lb.stop(0);
    }
  });

  it("cors = true without cors_origins echoes no origin and refuses cross-origin calls", async () => {
    const lb = await startWithApi(NO_SERVERS, "", "cors = true");
    try {
      const pre = await fetch(`${lb.base}/servers/x`, {
        method: "OPTIONS",
        headers: { origin: "http://ui.example", "access-control-request-method": "POST" },
      });
      expect(pre.status).toBe(403);
      expect(pre.headers.get("access-control-allow-origin")).toBeNull();
      expect(pre.headers.get("access-control-allow-credentials")).toBeNull();
    } finally {
      await lb.stop(0);
    }
  });

  it("sends no CORS headers by default", async () => {
    const lb = await startWithApi(NO_SERVERS);
    try {
      const get = await fetch(`${lb.base}/servers`, {
        headers: { origin: "http://ui.example", authorization: AUTH_HEADER },
      });
      expect(get.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      await lb.stop(0);
    }
  });
});
