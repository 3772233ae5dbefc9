/**
 * `LbServer` alone: `import { LbServer } from "@geoswarm/geoswarm/lb-server"`. For app stacks
 * that register their services on a platform stack's balancer: it loads `@pulumi/pulumi` and
 * nothing of AWS, Command, TLS or Random, so such a stack installs only `@pulumi/pulumi` next to
 * this package.
 *
 * @module @geoswarm/geoswarm/lb-server
 */
// Keep it that way: nothing reachable from here may import those packages (the package consumer
// test installs the app example without them).

export {
  type DeepInput,
  LbServer,
  type LbServerApiArgs,
  type LbServerArgs,
  type LbServerSpec,
} from "./lb-server";
