// /metrics can require basic auth (issue 13, item 14); without [metrics.basic_auth] it stays open,
// as gobetween's.
import { describe, expect, it } from "vitest";
import { startWithApi } from "../support/api";

const basic = (login: string, password: string) =>
  `Basic ${Buffer.from(`${login}:${password}`).toString("base64")}`;

describe("metrics basic auth", () => {
  it("answers 401 with a Basic challenge without the right credentials, 200 with them", async () => {
    const lb = await startWithApi(
      "",
      `[metrics]\nenabled = true\nbind = "127.0.0.1:0"\n[metrics.basic_auth]\nlogin = "prom"\npassword = "scrape-me"`,
    );
    try {
      const url = `http://${lb.metricsAddress}/metrics`;
      const none = await fetch(url);
      expect(none.status).toBe(401);
      expect(none.headers.get("www-authenticate")).toBe('Basic realm="metrics"');
      expect(
        (await fetch(url, { headers: { authorization: basic("prom", "wrong") } })).status,
      ).toBe(401);
      expect((await fetch(url, { headers: { authorization: "Bearer x" } })).status).toBe(401);
      const ok = await fetch(url, { headers: { authorization: basic("prom", "scrape-me") } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain("geoswarm_lb_");
    } finally {
      await lb.stop(0);
    }
  });

  it("stays open without [metrics.basic_auth]", async () => {
    const lb = await startWithApi("", `[metrics]\nenabled = true\nbind = "127.0.0.1:0"`);
    try {
      expect((await fetch(`http://${lb.metricsAddress}/metrics`)).status).toBe(200);
    } finally {
      await lb.stop(0);
    }
  });
});
