import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { TYPE_PREFIX } from "./types";

/** Arguments of {@link DockerCa}. */
export interface DockerCaArgs {
  /** Subject common name of the CA. Defaults to "geoswarm docker CA". */
  commonName?: string;
  /** CA validity in hours. Defaults to 87600 (10 years). */
  validityHours?: number;
}

/** A certificate issued by {@link DockerCa.issue} and its key. */
export interface IssuedCert {
  certPem: pulumi.Output<string>;
  /** Secret. */
  keyPem: pulumi.Output<string>;
}

/** What {@link DockerCa.issue} puts in a certificate. */
export interface IssueArgs {
  /** Subject common name. Required. */
  commonName: string;
  /** IP SANs, e.g. the host's Elastic IP. Defaults to none. */
  ipAddresses?: pulumi.Input<string>[];
  /** DNS SANs. Defaults to none. */
  dnsNames?: string[];
  /** Usable by a TLS server. Defaults to false. */
  server?: boolean;
  /** Usable by a TLS client. Defaults to false. */
  client?: boolean;
}

/** Per-certificate validity: 5 years, renewed by `pulumi up` in its last 30 days. */
const CERT_VALIDITY_HOURS = 43800;

/**
 * The CA of the cluster's Docker TLS (engines on 2376, the Swarm manager, clients). Keys are
 * ECDSA P-256 and stay Pulumi secrets.
 */
export class DockerCa extends pulumi.ComponentResource {
  public readonly caPem: pulumi.Output<string>;
  private readonly caKey: tls.PrivateKey;
  private readonly caCert: tls.SelfSignedCert;

  constructor(name: string, args: DockerCaArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    super(`${TYPE_PREFIX}DockerCa`, name, {}, opts);
    this.caKey = new tls.PrivateKey(
      `${name}-key`,
      { algorithm: "ECDSA", ecdsaCurve: "P256" },
      { parent: this },
    );
    this.caCert = new tls.SelfSignedCert(
      `${name}-cert`,
      {
        privateKeyPem: this.caKey.privateKeyPem,
        isCaCertificate: true,
        validityPeriodHours: args.validityHours ?? 87600,
        // Renewed by the first `pulumi up` in its last year, with every certificate it signed;
        // without it the CA would lapse before anything renews it.
        earlyRenewalHours: 8760,
        allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
        subject: { commonName: args.commonName ?? "geoswarm docker CA", organization: "geoswarm" },
      },
      { parent: this },
    );
    this.caPem = this.caCert.certPem;
    this.registerOutputs({ caPem: this.caPem });
  }

  /** Issues a key and certificate; the resources are children of `parent` and named after `name`. */
  issue(name: string, args: IssueArgs, parent: pulumi.Resource): IssuedCert {
    const key = new tls.PrivateKey(
      `${name}-tls-key`,
      { algorithm: "ECDSA", ecdsaCurve: "P256" },
      { parent },
    );
    const csr = new tls.CertRequest(
      `${name}-tls-csr`,
      {
        privateKeyPem: key.privateKeyPem,
        subject: { commonName: args.commonName, organization: "geoswarm" },
        ipAddresses: args.ipAddresses ?? [],
        dnsNames: args.dnsNames ?? [],
      },
      { parent },
    );
    const uses = ["digital_signature", "key_encipherment"];
    if (args.server) uses.push("server_auth");
    if (args.client) uses.push("client_auth");
    const cert = new tls.LocallySignedCert(
      `${name}-tls-cert`,
      {
        certRequestPem: csr.certRequestPem,
        caPrivateKeyPem: this.caKey.privateKeyPem,
        caCertPem: this.caCert.certPem,
        validityPeriodHours: CERT_VALIDITY_HOURS,
        earlyRenewalHours: 720,
        allowedUses: uses,
      },
      { parent },
    );
    return { certPem: cert.certPem, keyPem: pulumi.secret(key.privateKeyPem) };
  }

  /**
   * The server certificate of a machine's TLS endpoint: SANs `publicIp`, 127.0.0.1 and
   * localhost; `client` also allows client auth (a Swarm manager dials engines with it).
   */
  issueEndpoint(
    name: string,
    publicIp: pulumi.Input<string>,
    parent: pulumi.Resource,
    opts: { client?: boolean } = {},
  ): IssuedCert {
    return this.issue(
      name,
      {
        commonName: name,
        ipAddresses: [publicIp, "127.0.0.1"],
        dnsNames: ["localhost"],
        server: true,
        client: opts.client,
      },
      parent,
    );
  }
}
