// systemd unit files for everything geoswarm runs on a host. Pure: values in, text out.

/** One unit file: sections in order, each a list of [key, value] (keys may repeat). */
export type UnitSections = Record<string, [string, string][]>;

export function renderUnit(sections: UnitSections): string {
  return `${Object.entries(sections)
    .map(([name, entries]) => [`[${name}]`, ...entries.map(([k, v]) => `${k}=${v}`)].join("\n"))
    .join("\n\n")}\n`;
}

const INSTALL: UnitSections = { Install: [["WantedBy", "multi-user.target"]] };

/** Consul agent (server or client), run by the consul user the Debian package creates. */
export function consulUnit(configFile: string): string {
  return renderUnit({
    Unit: [
      ["Description", "Consul agent (geoswarm)"],
      ["Documentation", "https://developer.hashicorp.com/consul/docs"],
      ["Wants", "network-online.target"],
      ["After", "network-online.target"],
      ["ConditionFileNotEmpty", configFile],
    ],
    Service: [
      ["Type", "notify"],
      ["User", "consul"],
      ["Group", "consul"],
      ["ExecStart", `/usr/bin/consul agent -config-file=${configFile}`],
      ["ExecReload", "/bin/kill --signal HUP $MAINPID"],
      ["KillMode", "process"],
      ["KillSignal", "SIGTERM"],
      ["Restart", "on-failure"],
      ["RestartSec", "2s"],
      ["TimeoutStartSec", "300s"],
      ["LimitNOFILE", "65536"],
    ],
    ...INSTALL,
  });
}

/**
 * Drop-in for the distribution's docker.service: its `-H fd://` would conflict with the
 * `hosts` list in daemon.json, so ExecStart is reset to a plain dockerd.
 */
export function dockerDropIn(opts: { minApiVersion?: string }): string {
  const service: [string, string][] = [
    ["ExecStart", ""],
    ["ExecStart", "/usr/bin/dockerd --containerd=/run/containerd/containerd.sock"],
  ];
  if (opts.minApiVersion)
    service.push(["Environment", `DOCKER_MIN_API_VERSION=${opts.minApiVersion}`]);
  return renderUnit({ Service: service });
}

/** A long-running `docker run --rm` container supervised by systemd (standalone Swarm). */
export function dockerContainerUnit(opts: {
  description: string;
  container: string;
  runArgs: string[];
}): string {
  const docker = "/usr/bin/docker";
  return renderUnit({
    Unit: [
      ["Description", opts.description],
      ["Requires", "docker.service"],
      ["After", "docker.service network-online.target"],
      ["Wants", "network-online.target"],
    ],
    Service: [
      ["ExecStartPre", `-${docker} rm -f ${opts.container}`],
      ["ExecStart", `${docker} run --rm --name ${opts.container} ${opts.runArgs.join(" ")}`],
      ["ExecStop", `${docker} stop ${opts.container}`],
      ["Restart", "always"],
      ["RestartSec", "5s"],
      ["TimeoutStartSec", "300s"],
    ],
    ...INSTALL,
  });
}

export interface LbUnitOptions {
  nodePath: string;
  artifactPath: string;
  configPath: string;
  user: string;
  /** Lowest TCP/UDP port the balancer binds; below 1024 needs CAP_NET_BIND_SERVICE. */
  lowestPort: number;
  /**
   * Name of the writable directory under /var/lib that systemd creates for the user
   * (StateDirectory=); the balancer's [state] file lives there. Defaults to LB_STATE_DIRECTORY.
   */
  stateDirectory?: string;
  /**
   * GEOSWARM_LB_NATIVE for the service: "0" = the JS data path, "1" = the native addon or fail at
   * start-up. Defaults to unset: the addon when it is installed and loads, else JS.
   */
  native?: "0" | "1";
}

/** The balancer's StateDirectory= name: /var/lib/geoswarm-lb, owned by the service user. */
export const LB_STATE_DIRECTORY = "geoswarm-lb";

/**
 * geoswarm-lb under systemd, hardened: it listens, dials out (TCP/UDP, the Docker socket, netlink
 * for interface addresses), runs its exec discovery/healthcheck scripts (curl) and writes its
 * StateDirectory; nothing else. `systemd-analyze security` rates it 1.5 OK (1.7 with
 * CAP_NET_BIND_SERVICE for a port below 1024); 8.5 EXPOSED before these settings.
 * Not set, on purpose: MemoryDenyWriteExecute (V8 compiles code at run time), PrivateUsers (it
 * would void CAP_NET_BIND_SERVICE on the host's network), IPAddressDeny (backends are anywhere),
 * ProcSubset=pid (libuv reads /proc/stat and /proc/cpuinfo).
 */
export function lbUnit(o: LbUnitOptions): string {
  const lowPorts = o.lowestPort < 1024;
  const service: [string, string][] = [
    ["Type", "simple"],
    ["User", o.user],
    ["Group", o.user],
    ["ExecStart", `${o.nodePath} ${o.artifactPath} -c ${o.configPath}`],
    // SIGHUP: servers converge to the config file, established connections survive.
    ["ExecReload", "/bin/kill -HUP $MAINPID"],
    ["Restart", "always"],
    ["RestartSec", "2s"],
    ["LimitNOFILE", "1048576"],
    ["NoNewPrivileges", "yes"],
    ["ProtectSystem", "strict"],
    ["ProtectHome", "yes"],
    ["PrivateTmp", "yes"],
    ["PrivateDevices", "yes"],
    ["ProtectKernelTunables", "yes"],
    ["ProtectKernelModules", "yes"],
    ["ProtectKernelLogs", "yes"],
    ["ProtectControlGroups", "yes"],
    ["ProtectClock", "yes"],
    ["ProtectHostname", "yes"],
    ["ProtectProc", "invisible"],
    ["RestrictNamespaces", "yes"],
    ["RestrictRealtime", "yes"],
    ["RestrictSUIDSGID", "yes"],
    ["LockPersonality", "yes"],
    ["PrivateMounts", "yes"],
    ["RemoveIPC", "yes"],
    ["UMask", "0077"],
    // Only the capability it may need; empty (none at all) for ports >= 1024.
    ["CapabilityBoundingSet", lowPorts ? "CAP_NET_BIND_SERVICE" : ""],
    ["RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX AF_NETLINK"],
    ["SystemCallArchitectures", "native"],
    ["SystemCallFilter", "@system-service"],
    // A refused system call fails (libuv falls back from io_uring) instead of killing the process.
    ["SystemCallErrorNumber", "EPERM"],
    ["StateDirectory", o.stateDirectory ?? LB_STATE_DIRECTORY],
  ];
  if (lowPorts) service.push(["AmbientCapabilities", "CAP_NET_BIND_SERVICE"]);
  if (o.native) service.push(["Environment", `GEOSWARM_LB_NATIVE=${o.native}`]);
  return renderUnit({
    Unit: [
      ["Description", "geoswarm-lb L4 load balancer"],
      ["Wants", "network-online.target consul.service"],
      ["After", "network-online.target consul.service"],
    ],
    Service: service,
    ...INSTALL,
  });
}
