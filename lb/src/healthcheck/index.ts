export type { HealthCheck } from "./check";
export { createExecCheck } from "./exec";
export { ping } from "./ping";
export { createProbeCheck, probeSpec } from "./probe";
export {
  createHealthCheck,
  type HealthcheckLog,
  HealthcheckRunner,
  type HealthcheckRunnerOptions,
  type HealthcheckTarget,
} from "./runner";
export { type CheckResult, HealthState } from "./state";
