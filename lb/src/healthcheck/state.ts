// Per-backend healthcheck threshold machine with truly consecutive semantics.
//
// gobetween (§1.15) ignores results equal to its confirmed state instead of resetting the
// opposite counter, so with fails=5 the sequence F,P,F,P,F,P,F,P,F marks a backend down. Here a
// pass resets the failure streak and a failure resets the pass streak:
//   * a live backend goes down after `fails` consecutive failures;
//   * a backend that is not live comes up after `passes` consecutive passes.
// The machine starts from the live state the backend table assigned (initial_status), not from
// gobetween's "unknown": with fails=3 a backend that starts healthy needs three failed checks.
//
// An "unknown" result (exec output matching neither expected string) counts as a failure and goes
// through the `fails` threshold (gobetween flips a healthy backend down at once on the first
// unknown, and ignores unknowns from its initial state forever). The runner logs it.
//
// Thresholds <= 0 (or not finite) are treated as 1, as gobetween does.

export type CheckResult = "healthy" | "unhealthy" | "unknown";

function threshold(n: number): number {
  return Number.isFinite(n) && n >= 1 ? Math.floor(n) : 1;
}

export class HealthState {
  private liveNow: boolean;
  private passStreak = 0;
  private failStreak = 0;
  readonly fails: number;
  readonly passes: number;

  constructor(initialLive: boolean, fails: number, passes: number) {
    this.liveNow = initialLive;
    this.fails = threshold(fails);
    this.passes = threshold(passes);
  }

  get live(): boolean {
    return this.liveNow;
  }

  /** Feeds one check result. Returns true when the live state changed (a transition). */
  record(result: CheckResult): boolean {
    if (result === "healthy") {
      this.failStreak = 0;
      this.passStreak++;
      if (!this.liveNow && this.passStreak >= this.passes) {
        this.liveNow = true;
        return true;
      }
    } else {
      this.passStreak = 0;
      this.failStreak++;
      if (this.liveNow && this.failStreak >= this.fails) {
        this.liveNow = false;
        return true;
      }
    }
    return false;
  }
}
