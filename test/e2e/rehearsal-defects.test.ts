// The rehearsal catches what slipped through before. Each test breaks one thing on purpose, in
// this test process only (vi.doMock of a component module; components/ is not edited), runs the
// rehearsal (scripts/rehearsal) and shows that the same check the main suite
// (rehearsal.test.ts) passes with now fails:
//   1. the balancer → hosts' published ports flow removed from the planned flows (issue 11 item
//      1: every security group admitted nothing to the published ports): no entry point serves;
//   2. [state] removed from the rendered balancer config (issue 11 item 5): after a restart the
//      entry points registered through the API are gone.
import { afterEach, describe, expect, it, vi } from "vitest";
import type * as Flows from "../../components/flows";
import type * as LbRender from "../../components/render/lb";
import { Operator } from "../../scripts/rehearsal/operator";
import type { Rehearsal } from "../../scripts/rehearsal/rehearsal";
import { requireDocker } from "../support/docker/testbed";
import { startRehearsal } from "./support/rehearsal";

const canRun = requireDocker("test/e2e/rehearsal-defects.test.ts");
const R1 = ["r1-host-1", "r1-host-2"];
const R2 = ["r2-host-1", "r2-host-2"];
let r: Rehearsal | undefined;

afterEach(async () => {
  vi.doUnmock("../../components/flows");
  vi.doUnmock("../../components/render/lb");
  await r?.down();
  r = undefined;
}, 180_000);

async function deployed(): Promise<Operator> {
  r = await startRehearsal();
  await r.deploy();
  const op = new Operator(r);
  await op.startServices();
  return op;
}

describe.skipIf(!canRun)("the rehearsal catches the old defects", () => {
  it("fails when the balancer → hosts flow is removed from the planned flows", async () => {
    vi.doMock("../../components/flows", async (importOriginal) => {
      const flows = await importOriginal<typeof Flows>();
      return {
        ...flows,
        planFlows: (spec: Parameters<typeof flows.planFlows>[0]) =>
          flows.planFlows(spec).filter((f) => f.id !== "balancer-published-ports"),
      };
    });
    const op = await deployed();
    expect(r!.firewall.applied.filter((a) => a.ports === "32768-60999")).toEqual([]);
    const failure = await op
      .waitServes(op.client("region-1"), "r1nginx", R1, 8000)
      .catch((e: Error) => e);
    expect(failure).toBeInstanceOf(Error);
    process.stderr.write(
      `rehearsal without balancer-published-ports: ${(failure as Error).message}\n`,
    );
    expect((failure as Error).message).toMatch(/did not serve r1-host-1 and r1-host-2/);
    // The balancer's connections to the hosts' published ports were dropped by the hosts' filters.
    expect(await r!.firewall.dropped(r!.tb.byName("r1-host-1"))).toBeGreaterThan(0);
  }, 180_000);

  it("fails when [state] is removed from the rendered balancer config and the balancer restarts", async () => {
    vi.doMock("../../components/render/lb", async (importOriginal) => {
      const lb = await importOriginal<typeof LbRender>();
      return {
        ...lb,
        balancerConfig: (i: Parameters<typeof lb.balancerConfig>[0]) => {
          const { state: _state, ...rest } = lb.balancerConfig(i);
          return rest;
        },
      };
    });
    const op = await deployed();
    const config = await r!.tb.exec(r!.tb.byName("balancer"), "cat /etc/geoswarm-lb/config.toml");
    expect(config.stdout).not.toMatch(/^\[state\]/m);
    await op.waitServes(op.client("region-1"), "r1nginx", R1, 20_000);
    const failure = await op
      .restartBalancerAndCheck({ r1nginx: R1, r2nginx: R2 })
      .catch((e: Error) => e);
    expect(failure).toBeInstanceOf(Error);
    process.stderr.write(`rehearsal without [state]: ${(failure as Error).message}\n`);
    expect((failure as Error).message).toMatch(
      /r1nginx is not registered after the balancer restarted/,
    );
  }, 180_000);
});
