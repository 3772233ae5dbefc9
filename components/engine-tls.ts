// Delivers a Docker engine's TLS material after boot (hosts and the Swarm manager), so that a
// renewed certificate updates files on the machine instead of replacing it.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { type Machine, REMOTE_TIMEOUTS } from "./machine";
import { engineTlsDaemonJson } from "./render/cloudinit";
import { DOCKER_TLS_DIR } from "./render/docker";
import { dockerTlsBundle, dockerTlsInstallScript } from "./render/machine-scripts";
import type { IssuedCert } from "./tls";

/**
 * A remote command that installs the engine's CA, certificate, key and TLS daemon.json (sent on
 * stdin, secret) and restarts docker when they changed. Only a new instance replaces it; a renewed
 * certificate changes its stdin, which updates it (runs it again).
 */
export function installEngineTls(
  name: string,
  machine: Machine,
  tls: { caPem: pulumi.Input<string>; cert: IssuedCert },
  daemon: { labels: Record<string, string>; swarmMode: boolean },
  parent: pulumi.Resource,
): command.remote.Command {
  if (!machine.connection || !machine.booted)
    throw new Error(`${name}: the engine's TLS needs the machine's SSH access`);
  const stdin = pulumi
    .all([tls.caPem, tls.cert.certPem, tls.cert.keyPem])
    .apply(([caPem, certPem, keyPem]) =>
      dockerTlsBundle({
        "ca.pem": caPem,
        "cert.pem": certPem,
        "key.pem": keyPem,
        "daemon.json": engineTlsDaemonJson(daemon.labels, daemon.swarmMode),
      }),
    );
  return new command.remote.Command(
    `${name}-docker-tls`,
    {
      connection: machine.connection,
      create: dockerTlsInstallScript(DOCKER_TLS_DIR),
      stdin: pulumi.secret(stdin),
      triggers: [machine.instance.id],
      addPreviousOutputInEnv: false,
    },
    {
      parent,
      deletedWith: machine.instance,
      dependsOn: [machine.booted],
      customTimeouts: REMOTE_TIMEOUTS,
    },
  );
}
