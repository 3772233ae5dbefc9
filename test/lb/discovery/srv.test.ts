// srv discovery against a real dnsmasq serving SRV records, over UDP and TCP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dnsmasq, dnsmasqPath } from "./support/dnsmasq";
import { startDiscovery, waitFor } from "./support/helpers";

const bin = dnsmasqPath();
if (!bin) {
  if (process.env.CI) throw new Error("dnsmasq is required in CI (apt-get install dnsmasq-base)");
  process.stderr.write(
    "\n*** srv.test.ts SKIPPED: dnsmasq not installed (scripts/setup.sh) ***\n\n",
  );
}
const d = bin ? new Dnsmasq(bin) : undefined;

const records = {
  local: ["example.test"],
  srv: [
    "_web._tcp.example.test,web1.example.test,8080,10,5",
    "_web._tcp.example.test,web2.example.test,8081,20,1",
    "_v6._tcp.example.test,web6.example.test,9000,1,1",
    "_lost._tcp.example.test,nowhere.example.test,9000,1,1",
  ],
  hosts: ["web1.example.test,10.0.0.1", "web2.example.test,10.0.0.2", "web6.example.test,fd00::6"],
};

beforeAll(async () => {
  await d?.start(records);
});
afterAll(async () => {
  await d?.stop();
});

describe.skipIf(!bin)("srv discovery (real dnsmasq)", () => {
  for (const protocol of ["udp", "tcp"]) {
    it(`maps SRV records to backends over ${protocol}`, async () => {
      const r = startDiscovery(
        `kind = "srv"\nsrv_lookup_server = "${d?.address}"\nsrv_lookup_pattern = "_web._tcp.example.test."\nsrv_dns_protocol = "${protocol}"\ninterval = "1s"`,
      );
      try {
        await waitFor(() => r.updates.length >= 1, "first list");
        const sorted = [...r.updates[0]].sort((a, b) => a.port - b.port);
        expect(sorted).toEqual([
          {
            host: "10.0.0.1",
            port: 8080,
            weight: 5,
            priority: 10,
            max_connections: 0,
            sni: "web1.example.test",
          },
          {
            host: "10.0.0.2",
            port: 8081,
            weight: 1,
            priority: 20,
            max_connections: 0,
            sni: "web2.example.test",
          },
        ]);
      } finally {
        r.stop();
      }
    });
  }

  it("brackets IPv6 targets and skips targets without an address (one warning)", async () => {
    const r6 = startDiscovery(
      `kind = "srv"\nsrv_lookup_server = "${d?.address}"\nsrv_lookup_pattern = "_v6._tcp.example.test."\ninterval = "1s"`,
    );
    const lost = startDiscovery(
      `kind = "srv"\nsrv_lookup_server = "${d?.address}"\nsrv_lookup_pattern = "_lost._tcp.example.test."\ninterval = "100ms"`,
    );
    try {
      await waitFor(() => r6.updates.length >= 1 && lost.updates.length >= 3, "lists");
      expect(r6.current()).toEqual(["[fd00::6]:9000"]);
      expect(lost.updates.every((u) => u.length === 0)).toBe(true);
      const w = lost.records.filter((x) =>
        x.msg.startsWith("srv discovery: target has no address"),
      );
      expect(w).toHaveLength(1);
      expect(w[0]).toMatchObject({ target: "nowhere.example.test" });
    } finally {
      r6.stop();
      lost.stop();
    }
  });

  it("an unknown name is an empty pool; a refused query is a failure", async () => {
    const none = startDiscovery(
      `kind = "srv"\nsrv_lookup_server = "${d?.address}"\nsrv_lookup_pattern = "_none._tcp.example.test."\ninterval = "1s"`,
    );
    const refused = startDiscovery(
      `kind = "srv"\nsrv_lookup_server = "${d?.address}"\nsrv_lookup_pattern = "_web._tcp.elsewhere.test."\ninterval = "1s"`,
    );
    try {
      await waitFor(() => none.updates.length >= 1, "empty list");
      expect(none.updates[0]).toEqual([]);
      await waitFor(() => refused.records.some((x) => x.msg === "discovery failed"), "failure");
      expect(refused.records.find((x) => x.msg === "discovery failed")?.err).toBe(
        `SRV _web._tcp.elsewhere.test. from 127.0.0.1:${d?.port}: REFUSED`,
      );
    } finally {
      none.stop();
      refused.stop();
    }
  });

  it("follows record changes at the interval and times out against a silent server", async () => {
    const r = startDiscovery(
      `kind = "srv"\nsrv_lookup_server = "${d?.address}"\nsrv_lookup_pattern = "_web._tcp.example.test."\ninterval = "100ms"\ntimeout = "300ms"`,
    );
    try {
      await waitFor(() => r.current()?.length === 2, "two records");
      await d?.start({ ...records, srv: [records.srv[0]] }, d.port);
      await waitFor(() => r.current()?.join() === "10.0.0.1:8080", "one record", 5000);
      await d?.stop();
      await waitFor(() => r.records.some((x) => x.msg === "discovery failed"), "failure", 3000);
      expect(r.records.find((x) => x.msg === "discovery failed")?.err).toMatch(
        /^DNS SRV _web\._tcp\.example\.test\. via udp 127\.0\.0\.1:\d+: timed out$/,
      );
      expect(r.current()).toEqual(["10.0.0.1:8080"]);
    } finally {
      r.stop();
      await d?.start(records, d.port);
    }
  });
});
