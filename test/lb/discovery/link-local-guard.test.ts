// Servers created through the API may not reach link-local or metadata addresses through a host
// name that resolves to one (issue 13, item 4; the API refuses literal addresses itself).
import { describe, expect, it, vi } from "vitest";
import { parseConfigText, validateConfig } from "../../../lb/src/config";
import { Balancer } from "../../../lb/src/core/balancer";
import { isRestricted } from "../../../lb/src/discovery/guard";
import { httpGetOk } from "../../../lb/src/discovery/http";
import { silentLogger } from "../../../lb/src/log/logger";

// Hoisted above the imports by vitest: lb/src sees this node:dns.

vi.mock("node:dns", async (importOriginal) => {
  const dns = await importOriginal<typeof import("node:dns")>();
  const lookup = (host: string, opts: unknown, cb: (...a: unknown[]) => void) => {
    if (host === "metadata.rebind.test")
      return cb(null, [{ address: "169.254.169.254", family: 4 }]);
    if (host === "fine.rebind.test") return cb(null, [{ address: "127.0.0.1", family: 4 }]);
    return (dns.lookup as unknown as (...a: unknown[]) => void)(host, opts, cb);
  };
  return { ...dns, default: { ...dns, lookup }, lookup };
});

describe("link-local guard for API discovery", () => {
  it("refuses a host name that resolves to 169.254.169.254, and a literal one", async () => {
    const signal = new AbortController().signal;
    const target = {
      protocol: "http:" as const,
      host: "metadata.rebind.test",
      port: 80,
      refuseLinkLocal: true,
    };
    await expect(httpGetOk(target, "/", signal)).rejects.toThrow(
      /resolves to 169\.254\.169\.254, a link-local or metadata address/,
    );
    await expect(httpGetOk({ ...target, host: "169.254.169.254" }, "/", signal)).rejects.toThrow(
      /link-local or metadata address/,
    );
    // Other names resolve as usual (nothing listens on port 1: a plain connect error).
    await expect(
      httpGetOk({ ...target, host: "fine.rebind.test", port: 1 }, "/", signal),
    ).rejects.toThrow(/ECONNREFUSED/);
  });

  it("marks the discovery of API servers only, unless api.allow_link_local_discovery", async () => {
    const toml = (allow: boolean) =>
      `[api]\nenabled = true\nbind = "127.0.0.1:0"\nallow_link_local_discovery = ${allow}\n[api.basic_auth]\nlogin = "a"\npassword = "b"\n[servers.file]\nbind = "127.0.0.1:0"\n[servers.file.discovery]\nkind = "json"\njson_endpoint = "http://fine.rebind.test:1/"\n`;
    for (const allow of [false, true]) {
      const { config } = validateConfig(parseConfigText(toml(allow), "toml", { envSubst: false }));
      const b = new Balancer(config, silentLogger());
      await b.start();
      try {
        const api = structuredClone(config.servers.file);
        await b.create("api", api);
        expect(isRestricted(api.discovery)).toBe(!allow);
        expect(isRestricted(config.servers.file.discovery)).toBe(false);
      } finally {
        await b.stop(0);
      }
    }
  });
});
