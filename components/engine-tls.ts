// What a Docker engine (hosts and the Swarm manager) gets after boot: its TLS material and the
// daemon.json with its labels, and the standalone Swarm unit. A renewed certificate, new labels, a
// new Swarm image or strategy update files on the machine in place instead of replacing it.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { type Machine, machineStep, REMOTE_TIMEOUTS } from "./machine";
import { engineTlsDaemonJson } from "./render/cloudinit";
import { DOCKER_TLS_DIR } from "./render/docker";
import {
  dockerTlsBundle,
  dockerTlsInstallScript,
  unitInstallScript,
} from "./render/machine-scripts";
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

/**
 * Installs a standalone Swarm unit (agent or manager) after the engine's TLS step, and restarts it
 * only when the unit changed: a new image, strategy or discovery URL updates the machine in place.
 */
export function installSwarmUnit(
  name: string,
  machine: Machine,
  unit: { name: string; content: pulumi.Input<string> },
  tls: command.remote.Command,
  parent: pulumi.Resource,
): command.remote.Command {
  return machineStep(
    name,
    machine,
    { create: pulumi.output(unit.content).apply((u) => unitInstallScript(unit.name, u)) },
    { parent, dependsOn: [tls] },
  );
}
