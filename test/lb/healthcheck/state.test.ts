import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type CheckResult, HealthState } from "../../../lb/src/healthcheck/state";

const P: CheckResult = "healthy";
const F: CheckResult = "unhealthy";
const U: CheckResult = "unknown";

function feed(state: HealthState, seq: CheckResult[]): boolean[] {
  return seq.map((r) => {
    state.record(r);
    return state.live;
  });
}

describe("HealthState (consecutive thresholds)", () => {
  it("alternating F,P never marks a live backend down with fails=3 (gobetween would)", () => {
    const s = new HealthState(true, 3, 1);
    const lives = feed(s, [F, P, F, P, F, P, F, P, F, P, F, F]);
    expect(lives.every((l) => l)).toBe(true);
    expect(s.record(F)).toBe(true); // third consecutive failure
    expect(s.live).toBe(false);
  });

  it("three consecutive failures mark it down, and transitions are reported once", () => {
    const s = new HealthState(true, 3, 2);
    expect(s.record(F)).toBe(false);
    expect(s.record(F)).toBe(false);
    expect(s.record(F)).toBe(true);
    expect(s.record(F)).toBe(false);
    expect(s.live).toBe(false);
  });

  it("recovery needs `passes` consecutive passes; a failure in between restarts the count", () => {
    const s = new HealthState(false, 1, 3);
    expect(feed(s, [P, P, F, P, P])).toEqual([false, false, false, false, false]);
    expect(s.record(P)).toBe(true);
    expect(s.live).toBe(true);
  });

  it("starts from the initial status: a healthy start needs `fails` failures", () => {
    const healthy = new HealthState(true, 2, 2);
    expect(healthy.record(P)).toBe(false); // already live: no transition
    expect(healthy.record(F)).toBe(false);
    expect(healthy.record(F)).toBe(true);

    const unhealthy = new HealthState(false, 2, 2);
    expect(unhealthy.record(F)).toBe(false);
    expect(unhealthy.record(P)).toBe(false);
    expect(unhealthy.record(P)).toBe(true);
  });

  it("with the defaults (1/1) every change of result is a transition", () => {
    const s = new HealthState(true, 1, 1);
    expect([F, F, P, P, F].map((r) => s.record(r))).toEqual([true, false, true, false, true]);
  });

  it("unknown counts as a failure and goes through the threshold", () => {
    const s = new HealthState(true, 2, 1);
    expect(s.record(U)).toBe(false);
    expect(s.live).toBe(true);
    expect(s.record(U)).toBe(true);
    expect(s.live).toBe(false);
    // An unknown interrupts a pass streak.
    const r = new HealthState(false, 1, 2);
    feed(r, [P, U, P]);
    expect(r.live).toBe(false);
  });

  it("treats thresholds <= 0 or NaN as 1", () => {
    const s = new HealthState(true, 0, -5);
    expect(s.fails).toBe(1);
    expect(s.passes).toBe(1);
    expect(s.record(F)).toBe(true);
    expect(new HealthState(true, Number.NaN, 1).fails).toBe(1);
  });

  it("property: live changes exactly when the last `threshold` results agree against it", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.constantFrom(P, F, U), { maxLength: 60 }),
        (initial, fails, passes, seq) => {
          const s = new HealthState(initial, fails, passes);
          let live = initial;
          let run = 0; // signed streak: >0 passes, <0 failures
          for (const r of seq) {
            const pass = r === P;
            run = pass ? (run > 0 ? run + 1 : 1) : run < 0 ? run - 1 : -1;
            let expectChange = false;
            if (!live && run >= passes) expectChange = true;
            if (live && -run >= fails) expectChange = true;
            if (expectChange) live = !live;
            expect(s.record(r)).toBe(expectChange);
            expect(s.live).toBe(live);
          }
        },
      ),
    );
  });
});
