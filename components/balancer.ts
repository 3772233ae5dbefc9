import type * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { nodeSupportsWorkers } from "../lb/src/config/workers";
import type { ElasticAddress } from "./addresses";
import { defaultArtifactPath, fileSha256, sha256 } from "./artifact";
import type { ConsulCluster } from "./consul";
import {
  createMachine,
  machineStep,
  ownAddress,
  REMOTE_TIMEOUTS,
  type SshArgs,
  sshConnection,
} from "./machine";
import { type NativeDataPath, planNativeDataPath } from "./native-data-path";
import type { RegionNetwork } from "./network";
import { BALANCER_NAME } from "./plan";
import { balancerUserData, CONSUL_SERVERS_SCRIPT } from "./render/cloudinit";
import { LOCAL_AGENT_HTTP_PORT } from "./render/consul";
import { balancerConfig, checkLabelsProvider, renderBalancerConfig } from "./render/lb";
import { asRootScript } from "./render/machine-scripts";
import {
  consulServersScript,
  installNodeScript,
  lbInstallScript,
  NODE_BIN,
  stagedAddonFile,
} from "./render/scripts";
import { LB_STATE_DIRECTORY, lbUnit } from "./render/systemd";
import type { DockerCa } from "./tls";
import { DEFAULT_NODE_VERSION, TYPE_PREFIX } from "./types";

/** Arguments of {@link Balancer}. */
export interface BalancerArgs {
  /** Network of the core region; the host uses its `balancer` security group. Required. */
  network: RegionNetwork;
  /** Consul cluster the local client agent joins and the `consul` server fronts. Required. */
  consul: ConsulCluster;
  /** SSH access for copying the artifact and config and restarting the service. Required. */
  ssh: SshArgs;
  /** Who may use the `consul` server on :8500: IPs (→ /32) or CIDRs. Required (deny otherwise). */
  consulClients: pulumi.Input<pulumi.Input<string>[]>;
  /** EC2 instance type. Defaults to "t3.small". */
  instanceType?: string;
  /** REST API basic-auth login; the password is generated and secret. Defaults to "geoswarm". */
  apiUser?: string;
  /** REST API port. Defaults to 8888. */
  apiPort?: number;
  /** Node.js version installed on the host. Defaults to "22.23.3". */
  nodeVersion?: string;
  /**
   * geoswarm-lb data-plane threads sharing every TCP listener (`workers`); above 1 needs
   * nodeVersion >= 22.12. Defaults to 1.
   */
  workers?: number;
  /** sha256 of the Node.js linux-x64 tarball. Defaults to checking nodejs.org's SHASUMS256.txt. */
  nodeSha256?: string;
  /**
   * Path of the built balancer. Defaults to `lb/dist/geoswarm-lb.cjs` in the geoswarm package.
   * The native data-path addon `geoswarm-lb.node` beside it is shipped with it (`nativeDataPath`)
   * when its manifest `geoswarm-lb.node.json` (written by `npm run build:lb`, built or not) is
   * beside it too. Without the manifest, "auto" ships no addon (and warns once) and "required"
   * fails at preview.
   */
  artifactPath?: string;
  /**
   * geoswarm-lb's data path on the host (GEOSWARM_LB_NATIVE in its unit): "auto" ships the native
   * addon (lb/native, `npm run build:lb` with gcc) when it was built and the balancer uses it when
   * it loads, else the JS path, with a warning at preview when there is none to ship; "required"
   * fails at preview without a built addon and makes the balancer exit at start-up if it cannot
   * load it; "off" runs the JS path and removes the addon from the host. Defaults to "auto": the
   * native path is the measured faster one, and a machine without gcc can still deploy (a host that
   * has the addon of the same sources keeps it).
   */
  nativeDataPath?: NativeDataPath;
  /** Lowest port the balancer will bind (entry points); below 1024 grants CAP_NET_BIND_SERVICE. Defaults to 1024. */
  lowestPort?: number;
  /** Pre-allocated Elastic IP. Defaults to a new EIP owned by the balancer. */
  address?: ElasticAddress;
  /** AMI id. Defaults to the region's latest Ubuntu 24.04 amd64 image (then pinned). */
  ami?: pulumi.Input<string>;
  /**
   * The cluster CA (the Docker TLS CA). When given, the balancer gets from it a client certificate
   * for docker discovery against the Swarm manager (installed under LB_DOCKER_TLS_DIR, see
   * `dockerTls`) and a server certificate for its REST API with the Elastic IP in its SANs: the
   * API is then served over HTTPS (`apiUrl` https://, `apiCaPem` to pin). Defaults to none: no
   * docker discovery TLS, and the API on plain HTTP (its password in clear; the balancer warns).
   */
  dockerCa?: DockerCa;
  /**
   * Security-group rules the remote commands need, e.g. SSH from the operator. Every remote
   * command of the Balancer (staging, copies, install) depends on them, so that they exist before
   * the commands run and are revoked only after the commands are gone. Defaults to none.
   */
  firewall?: pulumi.Input<pulumi.Resource>[];
  /**
   * Entry points from container labels: geoswarm-lb's `[providers.docker]` watches the Swarm
   * manager with the Docker client certificate (needs `dockerCa`) and serves each labelled group
   * of containers on its `geoswarm.lb.port`. Defaults to none: the provider is off.
   */
  labels?: BalancerLabelsArgs;
}

/** Arguments of the Balancer's labels provider (`BalancerArgs.labels`). */
export interface BalancerLabelsArgs {
  /**
   * The Swarm manager's Docker API: `tcp://<EIP>:2377` for standalone Swarm, `tcp://<EIP>:2376`
   * in swarm mode (SwarmManager.dockerHost). Required.
   */
  dockerEndpoint: pulumi.Input<string>;
  /**
   * Ports a label may take, `"low-high"` inclusive; the caller opens them in the security group.
   * Defaults to "20000-20999".
   */
  portRange?: string;
  /** How long a port stays open after its last container went away (Go duration). Defaults to "30s". */
  drainGrace?: string;
}

/** Paths of the Docker client TLS files on the balancer host (docker_tls_* discovery keys). */
export interface BalancerDockerTls {
  cacertPath: string;
  certPath: string;
  keyPath: string;
}

export const LB_USER = "geoswarm-lb";
export const LB_UNIT = "geoswarm-lb.service";
export const LB_CONFIG_PATH = "/etc/geoswarm-lb/config.toml";
export const LB_INSTALL_DIR = "/opt/geoswarm-lb";
export const LB_DOCKER_TLS_DIR = "/etc/geoswarm-lb/docker";
/** The Docker client files under LB_DOCKER_TLS_DIR: docker discovery and the labels provider. */
const DOCKER_CLIENT_TLS: BalancerDockerTls = {
  cacertPath: `${LB_DOCKER_TLS_DIR}/ca.pem`,
  certPath: `${LB_DOCKER_TLS_DIR}/cert.pem`,
  keyPath: `${LB_DOCKER_TLS_DIR}/key.pem`,
};
export const LB_API_TLS_DIR = "/etc/geoswarm-lb/api";
/** The API password (api.basic_auth.password_file): not in the config, not on a command line. */
export const LB_API_PASSWORD_PATH = "/etc/geoswarm-lb/api-password";
/** Servers registered through the API, kept across restarts; inside the unit's StateDirectory. */
export const LB_STATE_PATH = `/var/lib/${LB_STATE_DIRECTORY}/servers.json`;

/**
 * geoswarm-lb on EC2 in the core region, with an Elastic IP: pinned Node.js, a Consul client
 * agent, the `consul` server on :8500 and the REST API with a generated secret password. The
 * artifact and its config are copied with CopyToRemote; the service restarts only when the
 * artifact's hash, the config or the unit changes (or the instance is new).
 */
export class Balancer extends pulumi.ComponentResource {
  public readonly publicIp: pulumi.Output<string>;
  /** The balancer's EC2 instance (e.g. for `deletedWith` of what lives on it). */
  public readonly instance: aws.ec2.Instance;
  /** Its id: a new one means a new, empty balancer (LbServer `balancerId`). */
  public readonly instanceId: pulumi.Output<string>;
  /** `https://<EIP>:<apiPort>` with `dockerCa`, else `http://...`. */
  public readonly apiUrl: pulumi.Output<string>;
  /** PEM of the CA that signed the API's certificate (LbServer `api.caPem`); only with `dockerCa`. */
  public readonly apiCaPem?: pulumi.Output<string>;
  public readonly apiUser: string;
  /** Secret. */
  public readonly apiPassword: pulumi.Output<string>;
  /** `consul://<EIP>:8500/swarmcluster`, the standalone Swarm discovery URL. */
  public readonly swarmDiscoveryUrl: pulumi.Output<string>;
  public readonly consulUiUrl: pulumi.Output<string>;
  /** The rendered config; secret (contains the API password). */
  public readonly configToml: pulumi.Output<string>;
  public readonly artifactSha256: string;
  /** The remote command that installs and restarts the service (its triggers decide restarts). */
  public readonly installCommand: command.remote.Command;
  /** Docker client TLS files on the host; only with `dockerCa`. */
  public readonly dockerTls?: BalancerDockerTls;

  constructor(name: string, args: BalancerArgs, opts?: pulumi.ComponentResourceOptions) {
    super(`${TYPE_PREFIX}Balancer`, name, {}, opts);
    const apiPort = args.apiPort ?? 8888;
    const nodeVersion = args.nodeVersion ?? DEFAULT_NODE_VERSION;
    const workers = args.workers ?? 1;
    if (workers > 1 && !nodeSupportsWorkers(nodeVersion)) {
      throw new Error(
        `Balancer ${name}: workers = ${workers} needs nodeVersion >= 22.12 (SO_REUSEPORT), got "${nodeVersion}"`,
      );
    }
    if (args.labels && !args.dockerCa) {
      throw new Error(
        `Balancer ${name}: labels need dockerCa (the provider reaches the manager with the balancer's Docker client certificate)`,
      );
    }
    const labels = args.labels && {
      dockerEndpoint: args.labels.dockerEndpoint,
      portRange: args.labels.portRange ?? "20000-20999",
      drainGrace: args.labels.drainGrace ?? "30s",
    };
    if (labels) checkLabelsProvider(name, labels.portRange, labels.drainGrace);
    const labelsLowestPort = labels ? Number(labels.portRange.split("-")[0]) : 65535;
    this.apiUser = args.apiUser ?? "geoswarm";
    const artifactPath = args.artifactPath ?? defaultArtifactPath();
    this.artifactSha256 = fileSha256(artifactPath);
    // The native data path (lb/native): keyed on the addon's identity, not its bytes (see
    // planNativeDataPath), so which machine runs pulumi restarts nothing.
    const native = planNativeDataPath(name, args.nativeDataPath ?? "auto", artifactPath);
    if (native.warning) pulumi.log.warn(native.warning, this);
    const address = args.address ?? ownAddress(name, args.network.awsRegion, this);

    const password = new random.RandomPassword(
      `${name}-api-password`,
      { length: 32, special: false },
      { parent: this },
    );
    this.apiPassword = pulumi.secret(password.result);

    // The same for the balancer's whole life: Node.js and the Consul agent come after boot.
    const userData = balancerUserData({ hostname: BALANCER_NAME, lbUser: LB_USER });
    const m = createMachine(
      name,
      {
        network: args.network,
        role: "balancer",
        instanceType: args.instanceType ?? "t3.small",
        userData,
        // The boot check and the authorized keys, as on every machine.
        ssh: args.ssh,
        firewall: args.firewall,
        address,
        ami: args.ami,
      },
      this,
    );
    // Installs only when the installed version differs; a new version updates it in place.
    const node = machineStep(
      `${name}-node`,
      m,
      { create: asRootScript("install-node.sh", installNodeScript(nodeVersion, args.nodeSha256)) },
      { parent: this },
    );
    const consulAgent = args.consul.installClientAgent(`${name}-consul`, m, BALANCER_NAME, {
      parent: this,
      httpPort: LOCAL_AGENT_HTTP_PORT,
      files: [{ path: CONSUL_SERVERS_SCRIPT, content: consulServersScript(), mode: "0755" }],
    });

    const apiCert = args.dockerCa?.issueEndpoint(`${name}-api`, address.publicIp, this);
    const config = pulumi
      .all([args.consulClients, labels?.dockerEndpoint ?? ""])
      .apply(([consulClients, dockerEndpoint]) =>
        balancerConfig({
          apiPort,
          apiUser: this.apiUser,
          apiPasswordFile: LB_API_PASSWORD_PATH,
          consulClients,
          workers,
          statePath: LB_STATE_PATH,
          apiTls: apiCert
            ? { certPath: `${LB_API_TLS_DIR}/cert.pem`, keyPath: `${LB_API_TLS_DIR}/key.pem` }
            : undefined,
          labels: labels && {
            endpoint: dockerEndpoint,
            tls: DOCKER_CLIENT_TLS,
            portRange: labels.portRange,
            drainGrace: labels.drainGrace,
          },
        }),
      );
    this.configToml = pulumi.secret(config.apply(renderBalancerConfig));
    const unit = lbUnit({
      nodePath: NODE_BIN,
      artifactPath: `${LB_INSTALL_DIR}/geoswarm-lb.cjs`,
      configPath: LB_CONFIG_PATH,
      user: LB_USER,
      // A label's port is bound like an entry point's: the range's start counts too.
      lowestPort: Math.min(args.lowestPort ?? 1024, labelsLowestPort),
      stateDirectory: LB_STATE_DIRECTORY,
      native: native.env,
    });

    const user = args.ssh.user ?? "ubuntu";
    const staging = `/home/${user}/geoswarm-lb-staging`;
    const connection = sshConnection(address.publicIp, args.ssh);
    const firewall = args.firewall ?? [];
    const onHost = { parent: this, deletedWith: m.instance, customTimeouts: REMOTE_TIMEOUTS };
    const ready = new command.remote.Command(
      `${name}-ready`,
      {
        connection,
        create: `install -d -m 0700 ${staging}`,
        triggers: [m.instance.id],
        addPreviousOutputInEnv: false,
      },
      // After the boot check (cloud-init finished without errors: the user), Node.js and the agent.
      { ...onHost, dependsOn: [m.booted as pulumi.Resource, node, consulAgent, ...firewall] },
    );
    const copy = (suffix: string, source: pulumi.Input<pulumi.asset.Asset>, file: string) =>
      new command.remote.CopyToRemote(
        `${name}-copy-${suffix}`,
        { connection, source, remotePath: `${staging}/${file}`, triggers: [m.instance.id] },
        { ...onHost, dependsOn: [ready, ...firewall] },
      );
    const asset = (pem: pulumi.Output<string>) => pem.apply((t) => new pulumi.asset.StringAsset(t));
    const copies = [
      copy("artifact", new pulumi.asset.FileAsset(artifactPath), "geoswarm-lb.cjs"),
      copy(
        "config",
        this.configToml.apply((t) => new pulumi.asset.StringAsset(t)),
        "config.toml",
      ),
      copy("unit", new pulumi.asset.StringAsset(unit), LB_UNIT),
      ...(native.file
        ? [copy("addon", new pulumi.asset.FileAsset(native.file), stagedAddonFile(native.identity))]
        : []),
      copy(
        "api-password",
        pulumi.secret(this.apiPassword.apply((p) => new pulumi.asset.StringAsset(p))),
        "api-password",
      ),
    ];
    const triggers: pulumi.Input<string>[] = [];
    if (args.dockerCa) {
      const cert = args.dockerCa.issue(
        `${name}-docker-client`,
        { commonName: "geoswarm-lb docker discovery", client: true },
        this,
      );
      copies.push(
        copy("docker-ca", asset(args.dockerCa.caPem), "docker-ca.pem"),
        copy("docker-cert", asset(cert.certPem), "docker-cert.pem"),
        copy("docker-key", pulumi.secret(asset(cert.keyPem)), "docker-key.pem"),
      );
      // Re-installed when the certificate is renewed.
      triggers.push(cert.certPem.apply(sha256));
      this.dockerTls = DOCKER_CLIENT_TLS;
    }
    if (args.dockerCa && apiCert) {
      copies.push(
        copy("api-ca", asset(args.dockerCa.caPem), "api-ca.pem"),
        copy("api-cert", asset(apiCert.certPem), "api-cert.pem"),
        copy("api-key", pulumi.secret(asset(apiCert.keyPem)), "api-key.pem"),
      );
      // The API reads its certificate at start: a renewal must restart it.
      triggers.push(apiCert.certPem.apply(sha256));
      this.apiCaPem = args.dockerCa.caPem;
    }
    // The API reads its password (api.basic_auth.password_file) at start: a new one restarts it.
    triggers.push(pulumi.secret(this.apiPassword.apply(sha256)));
    // What a reload (SIGHUP) cannot apply: a change here restarts the service, a change of the
    // servers alone (e.g. the `consul` server's access rules when a host is added) reloads it.
    // Unsecret: a hash, and the install script that carries it should show in diffs.
    const restartKey = pulumi.unsecret(
      pulumi.all([config, pulumi.all(triggers)]).apply(([c, certs]) =>
        sha256(
          JSON.stringify([
            this.artifactSha256,
            native.key,
            sha256(unit),
            // the running service keeps the old Node.js until restarted (lb-node installs it)
            nodeVersion,
            renderBalancerConfig({ ...c, servers: undefined }),
            certs,
          ]),
        ),
      ),
    );
    this.installCommand = new command.remote.Command(
      `${name}-install`,
      {
        connection,
        create: restartKey.apply((key) =>
          lbInstallScript({
            stagingDir: staging,
            installDir: LB_INSTALL_DIR,
            configPath: LB_CONFIG_PATH,
            unitName: LB_UNIT,
            user: LB_USER,
            apiPort,
            dockerTlsDir: args.dockerCa ? LB_DOCKER_TLS_DIR : undefined,
            apiTlsDir: apiCert ? LB_API_TLS_DIR : undefined,
            apiPasswordFile: LB_API_PASSWORD_PATH,
            restartKey: key,
            addon: native.install,
          }),
        ),
        // Replaced (so re-run) exactly when one of these changes.
        triggers: [
          this.artifactSha256,
          pulumi.secret(this.configToml.apply(sha256)),
          sha256(unit),
          m.instance.id,
          ...triggers,
          native.key,
        ],
        addPreviousOutputInEnv: false,
      },
      { ...onHost, dependsOn: [...copies, ...firewall] },
    );

    this.publicIp = address.publicIp;
    this.instance = m.instance;
    this.instanceId = m.instance.id;
    this.apiUrl = pulumi.interpolate`${apiCert ? "https" : "http"}://${address.publicIp}:${apiPort}`;
    this.swarmDiscoveryUrl = pulumi.interpolate`consul://${address.publicIp}:8500/swarmcluster`;
    this.consulUiUrl = pulumi.interpolate`http://${address.publicIp}:8500/ui/`;
    this.registerOutputs({
      publicIp: this.publicIp,
      apiUrl: this.apiUrl,
      apiPassword: this.apiPassword,
      apiCaPem: this.apiCaPem,
      instanceId: this.instanceId,
      consulUiUrl: this.consulUiUrl,
    });
  }
}
