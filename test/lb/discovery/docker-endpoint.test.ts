// docker_endpoint parsing: which socket or address is used, TLS, and the host for ports published
// on a wildcard address. (The client itself is exercised against a real dockerd in
// docker.test.ts and docker-swarm.test.ts.)
import { describe, expect, it } from "vitest";
import { dockerSource } from "../../../lb/src/discovery/docker";
import { parseDockerEndpoint } from "../../../lb/src/discovery/docker/client";
import { discoveryConfig, recordingLogger } from "./support/helpers";

const cfg = (extra: string) =>
  discoveryConfig(`kind = "docker"\ndocker_container_private_port = 80\n${extra}`);

describe("docker_endpoint", () => {
  it("unix:// uses the socket; wildcard-published ports map to 127.0.0.1", () => {
    const e = parseDockerEndpoint(cfg('docker_endpoint = "unix:///run/docker.sock"'));
    expect(e.target.socketPath).toBe("/run/docker.sock");
    expect(e.host).toBe("127.0.0.1");
  });

  it("tcp:// and http:// are plain HTTP to host:port; the host is the endpoint's", () => {
    for (const ep of ["tcp://10.1.2.3:2375", "http://10.1.2.3:2375/"]) {
      const e = parseDockerEndpoint(cfg(`docker_endpoint = "${ep}"`));
      expect(e.target).toMatchObject({ protocol: "http:", host: "10.1.2.3", port: 2375 });
      expect(e.host).toBe("10.1.2.3");
    }
    // No port: Docker's defaults, 2375 plain and 2376 with TLS (the validator accepts it too).
    expect(parseDockerEndpoint(cfg('docker_endpoint = "tcp://10.1.2.3"')).target.port).toBe(2375);
    expect(parseDockerEndpoint(cfg('docker_endpoint = "https://10.1.2.3"')).target.port).toBe(2376);
    expect(parseDockerEndpoint(cfg('docker_endpoint = "tcp://[fd00::1]:2375"')).host).toBe(
      "[fd00::1]",
    );
  });

  it("TLS: https with the certificate files; verification needs the CA (warned otherwise)", () => {
    const e = parseDockerEndpoint(
      cfg(
        'docker_endpoint = "tcp://d.example:2376"\ndocker_tls_enabled = true\ndocker_tls_cert_path = "/c.pem"\ndocker_tls_key_path = "/k.pem"\ndocker_tls_cacert_path = "/ca.pem"',
      ),
    );
    expect(e.target).toMatchObject({
      protocol: "https:",
      host: "d.example",
      port: 2376,
      rejectUnauthorized: true,
      tls: { cert: "/c.pem", key: "/k.pem", ca: "/ca.pem" },
    });
    const { log, records } = recordingLogger();
    dockerSource(cfg('docker_endpoint = "https://d.example:2376"'), log);
    expect(records[0]).toMatchObject({ level: 40 });
    expect(records[0].msg).toMatch(/server certificate is not verified/);
  });
});
