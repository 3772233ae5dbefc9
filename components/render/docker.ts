// Docker daemon configuration (/etc/docker/daemon.json) and a schema of the keys we emit.
import { z } from "zod";

export const DOCKER_TLS_DIR = "/etc/docker/tls";
export const DOCKER_TLS_PORT = 2376;

/** The subset of https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file we use. */
export const daemonJsonSchema = z
  .strictObject({
    hosts: z.array(z.string().regex(/^(unix:\/\/\/|tcp:\/\/[0-9.]+:\d+$)/)).min(1),
    tls: z.boolean().optional(),
    tlsverify: z.boolean().optional(),
    tlscacert: z.string().startsWith("/").optional(),
    tlscert: z.string().startsWith("/").optional(),
    tlskey: z.string().startsWith("/").optional(),
    labels: z.array(
      z.string().regex(/^[a-z0-9][a-z0-9._-]*=[^\n]+$/, "engine labels are key=value"),
    ),
    "log-driver": z.enum(["json-file", "local", "journald"]),
    "log-opts": z.record(z.string(), z.string()).optional(),
    "live-restore": z.boolean(),
  })
  .refine((d) => !d.hosts.some((h) => h.startsWith("tcp://")) || d.tlsverify === true, {
    message: "a TCP listener needs tlsverify (no plain 2375)",
    path: ["tlsverify"],
  })
  .refine((d) => !d.hosts.some((h) => h.endsWith(":2375")), {
    message: "port 2375 is the unencrypted Docker port",
    path: ["hosts"],
  });

export type DaemonJson = z.infer<typeof daemonJsonSchema>;

export interface DaemonOptions {
  /** Engine labels; must include `region`. */
  labels: Record<string, string>;
  /** Swarm mode refuses to start with live-restore on. */
  swarmMode: boolean;
  /**
   * The TLS listener on 2376. False for the boot-time file in user data: the certificates arrive
   * after boot (dockerd refuses to start with TLS files missing), with the TLS version of this file.
   */
  tls: boolean;
}

export function daemonJson(o: DaemonOptions): DaemonJson {
  if (!o.labels.region) throw new Error("engine labels must include region");
  const tls = o.tls
    ? {
        tls: true,
        tlsverify: true,
        tlscacert: `${DOCKER_TLS_DIR}/ca.pem`,
        tlscert: `${DOCKER_TLS_DIR}/cert.pem`,
        tlskey: `${DOCKER_TLS_DIR}/key.pem`,
      }
    : {};
  return {
    hosts: ["unix:///var/run/docker.sock", ...(o.tls ? [`tcp://0.0.0.0:${DOCKER_TLS_PORT}`] : [])],
    ...tls,
    labels: Object.entries(o.labels)
      .sort(([a], [b]) => (a === "region" ? -1 : b === "region" ? 1 : a.localeCompare(b)))
      .map(([k, v]) => `${k}=${v}`),
    "log-driver": "local",
    "live-restore": !o.swarmMode,
  };
}

export const renderDaemonJson = (d: DaemonJson): string => `${JSON.stringify(d, null, 2)}\n`;
