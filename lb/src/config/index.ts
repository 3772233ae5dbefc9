// Public surface of the configuration module.

export {
  bracketHost,
  DOCKER_URL_SCHEMES,
  isIpLiteral,
  isLoopbackHost,
  isWildcardHost,
  joinHostPort,
  parseConsulHost,
  parseHostPort,
  parseUrlHost,
  unbracketHost,
} from "./address";
export {
  BACKEND_LINE_SYNTAX,
  DEFAULT_BACKEND_PATTERN,
  formatBackendLine,
  parseBackendLine,
} from "./backend-line";
export { formatDuration, isDuration, parseDuration, parseDurationNs } from "./duration";
export { decodeGoString } from "./go-string";
export {
  loadConfig,
  parseConfigText,
  substituteEnv,
  summarizeConfig,
  URL_TIMEOUT_MS,
} from "./load";
export { compileRe2, type Re2 } from "./re2";
export {
  DEFAULT_LABEL_PREFIX,
  hasLabels,
  LABEL_KEYS,
  type LabelOptions,
  type LabelProblem,
  type LabelRequest,
  parseLabels,
  parsePortRange,
  serverNameProblem,
  UDP_DEFAULT_IDLE_TIMEOUT,
  validateConfig,
  validateDockerProvider,
  validateServer,
} from "./schema";
export * from "./types";
