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
export { compileGoRegexp, translateGoRegexp } from "./go-regexp";
export { decodeGoString } from "./go-string";
export {
  loadConfig,
  parseConfigText,
  substituteEnv,
  summarizeConfig,
  URL_TIMEOUT_MS,
} from "./load";
export { validateConfig, validateServer } from "./schema";
export * from "./types";
