// The article's regional entry points (`r1nginx`, ...): one balancer server per entry point that
// finds its backends by docker discovery against the Swarm manager.
import type * as pulumi from "@pulumi/pulumi";
import type { Balancer, BalancerDockerTls } from "./balancer";
import type { EntryPointSpec } from "./config";
import { type DeepInput, LbServer, type LbServerSpec } from "./lb-server";
import type { SwarmManager } from "./swarm-manager";

/** Docker label the entry point's containers carry: `service=<serviceLabel>`. */
export const entryPointLabel = (e: EntryPointSpec): string => `service=${e.serviceLabel}`;

/**
 * The server for one entry point: listens on every interface at `lbPort`, balances the running
 * containers labelled `service=<serviceLabel>` on their `privatePort`, as the Swarm manager at
 * `dockerHost` reports them (TLS with the balancer's client certificate).
 */
export function entryPointServer(
  e: EntryPointSpec,
  dockerHost: pulumi.Input<string>,
  tls: BalancerDockerTls,
): DeepInput<LbServerSpec> {
  return {
    bind: `0.0.0.0:${e.lbPort}`,
    protocol: "tcp",
    balance: e.balance,
    discovery: {
      kind: "docker",
      docker_endpoint: dockerHost,
      docker_container_label: entryPointLabel(e),
      docker_container_private_port: e.privatePort,
      docker_tls_enabled: true,
      docker_tls_cacert_path: tls.cacertPath,
      docker_tls_cert_path: tls.certPath,
      docker_tls_key_path: tls.keyPath,
      interval: "10s",
      timeout: "5s",
      failpolicy: "keeplast",
    },
    healthcheck:
      e.healthcheck.kind === "none"
        ? { kind: "none" }
        : {
            kind: "ping",
            interval: e.healthcheck.interval,
            timeout: e.healthcheck.timeout,
            fails: e.healthcheck.fails,
            passes: e.healthcheck.passes,
          },
    // The security group already limits lbPort to allowedCidr; the balancer enforces it too.
    access:
      e.allowedCidr === "0.0.0.0/0" ? null : { default: "deny", rules: [`allow ${e.allowedCidr}`] },
  };
}

/**
 * One LbServer per entry point, a child of the balancer, registered once its service is
 * installed. `apiFirewall` are the rules that let the machine running Pulumi reach the API: every
 * server depends on them, so `pulumi destroy` deletes the servers before it revokes the rules.
 * When the balancer's instance itself goes, its servers go with it (deletedWith): no API call to
 * a machine that is being terminated.
 */
export function buildEntryPoints(
  entryPoints: EntryPointSpec[],
  balancer: Balancer,
  manager: SwarmManager,
  apiFirewall: pulumi.Resource[] = [],
): Record<string, LbServer> {
  const tls = balancer.dockerTls;
  if (entryPoints.length > 0 && !tls) {
    throw new Error(
      "entry points need docker discovery TLS on the balancer: create the Balancer with dockerCa",
    );
  }
  return Object.fromEntries(
    entryPoints.map((e) => [
      e.name,
      new LbServer(
        e.name,
        {
          api: {
            url: balancer.apiUrl,
            username: balancer.apiUser,
            password: balancer.apiPassword,
            // The API's certificate is the cluster CA's: pin it, trust nothing else.
            caPem: balancer.apiCaPem,
          },
          // A replaced balancer instance starts with no servers: register them again.
          balancerId: balancer.instanceId,
          server: entryPointServer(e, manager.dockerHost, tls as BalancerDockerTls),
        },
        {
          parent: balancer,
          deletedWith: balancer.instance,
          dependsOn: [balancer.installCommand, ...apiFirewall],
        },
      ),
    ]),
  );
}
