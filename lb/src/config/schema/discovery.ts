// [servers.<name>.discovery]: the kind, its common keys and each kind's own keys.

import { z } from "zod";
import { DOCKER_URL_SCHEMES, parseConsulHost, parseUrlHost } from "../address";
import { BACKEND_LINE_SYNTAX, parseBackendLine } from "../backend-line";
import { parseJsonPath } from "../json-path";
import type { DiscoveryConfig, DiscoveryKind } from "../types";
import { keyOwner, oneOf, regexpProblem, type Section, zHostPort, zStringList } from "./section";

export const DISCOVERY_KINDS: readonly DiscoveryKind[] = [
  "static",
  "srv",
  "docker",
  "json",
  "plaintext",
  "exec",
  "consul",
];

const DISCOVERY_KEYS: Record<DiscoveryKind | "lxd", readonly string[]> = {
  static: ["static_list"],
  srv: ["srv_lookup_server", "srv_lookup_pattern", "srv_dns_protocol"],
  docker: [
    "docker_endpoint",
    "docker_container_label",
    "docker_container_private_port",
    "docker_container_host_env_var",
    "docker_tls_enabled",
    "docker_tls_cert_path",
    "docker_tls_key_path",
    "docker_tls_cacert_path",
  ],
  json: [
    "json_endpoint",
    "json_host_pattern",
    "json_port_pattern",
    "json_weight_pattern",
    "json_priority_pattern",
    "json_sni_pattern",
    "json_max_connections_pattern",
  ],
  plaintext: ["plaintext_endpoint", "plaintext_regex_pattern"],
  exec: ["exec_command"],
  consul: [
    "consul_host",
    "consul_service_name",
    "consul_service_tag",
    "consul_service_passing_only",
    "consul_datacenter",
    "consul_service_datacenter",
    "consul_auth_username",
    "consul_auth_password",
    "consul_tls_enabled",
    "consul_tls_cert_path",
    "consul_tls_key_path",
    "consul_tls_cacert_path",
    "consul_acl_token",
  ],
  lxd: [
    "lxd_server_address",
    "lxd_server_remote_name",
    "lxd_server_remote_password",
    "lxd_config_directory",
    "lxd_generate_client_certs",
    "lxd_accept_server_cert",
    "lxd_container_label_key",
    "lxd_container_label_value",
    "lxd_container_port",
    "lxd_container_port_key",
    "lxd_container_interface",
    "lxd_container_interface_key",
    "lxd_container_sni_key",
    "lxd_container_address_type",
  ],
};

const zHttpUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === "http:" || u.protocol === "https:") && u.host !== "";
  } catch {
    return false;
  }
});

// The same parsers as the discovery sources use, so what passes --check also starts.
export const zDockerEndpoint = z
  .string()
  .refine((s) => /^unix:\/\/\/.+/.test(s) || parseUrlHost(s, DOCKER_URL_SCHEMES) !== null);

const zConsulHost = z.string().refine((s) => parseConsulHost(s) !== null);

function readStaticList(s: Section, out: DiscoveryConfig): void {
  const expected = `expected a non-empty list of backend lines "${BACKEND_LINE_SYNTAX}"`;
  if (!s.has("static_list")) {
    s.required("static_list", `a list of backend lines "${BACKEND_LINE_SYNTAX}"`);
    return;
  }
  const list = s.get("static_list");
  if (!Array.isArray(list) || list.length === 0) {
    s.invalid("static_list", expected, list);
    return;
  }
  const seen = new Map<string, number>();
  let ok = true;
  list.forEach((line, i) => {
    const key = `static_list[${i}]`;
    if (typeof line !== "string") {
      s.invalid(key, `expected a backend line "${BACKEND_LINE_SYNTAX}"`, line);
      ok = false;
      return;
    }
    try {
      const b = parseBackendLine(line);
      const id = `${b.host}:${b.port}`;
      const prev = seen.get(id);
      if (prev !== undefined) {
        s.warn(key, `backend ${id} is also listed at static_list[${prev}] (the later line wins)`);
      }
      seen.set(id, i);
    } catch (err) {
      s.invalid(
        key,
        `expected a backend line "${BACKEND_LINE_SYNTAX}" (${(err as Error).message})`,
        line,
      );
      ok = false;
    }
  });
  if (ok) out.static_list = list as string[];
}

function readDiscoveryKind(s: Section, kind: DiscoveryKind, out: DiscoveryConfig): void {
  const set = (key: string, v: unknown): void => {
    if (v !== undefined) out[key] = v;
  };
  switch (kind) {
    case "static":
      readStaticList(s, out);
      break;
    case "srv": {
      if (!s.has("srv_lookup_server")) s.required("srv_lookup_server", "DNS server host:port");
      set(
        "srv_lookup_server",
        s.read(
          "srv_lookup_server",
          zHostPort,
          'expected a DNS server host:port such as "10.0.0.2:53"',
        ),
      );
      const pattern = s.needStr(
        "srv_lookup_pattern",
        'fully qualified SRV name such as "_web._tcp.service.consul."',
      );
      if (pattern !== undefined && !pattern.endsWith(".")) {
        s.invalid(
          "srv_lookup_pattern",
          'expected a fully qualified SRV name ending with "."',
          pattern,
        );
      } else set("srv_lookup_pattern", pattern);
      set("srv_dns_protocol", s.enum("srv_dns_protocol", ["udp", "tcp"] as const, "udp"));
      break;
    }
    case "docker": {
      if (!s.has("docker_endpoint")) {
        s.required(
          "docker_endpoint",
          '"unix:///var/run/docker.sock", "tcp://host:port" or "http(s)://host:port"',
        );
      }
      set(
        "docker_endpoint",
        s.read(
          "docker_endpoint",
          zDockerEndpoint,
          'expected "unix:///path/to/docker.sock", "tcp://host[:port]", "http://host[:port]" or "https://host[:port]"',
        ),
      );
      if (!s.has("docker_container_private_port")) {
        s.required(
          "docker_container_private_port",
          "the container port to balance, an integer 1-65535",
        );
      }
      set("docker_container_private_port", s.int("docker_container_private_port", 1, 65535));
      set("docker_container_label", s.str("docker_container_label"));
      set("docker_container_host_env_var", s.str("docker_container_host_env_var"));
      set("docker_tls_enabled", s.bool("docker_tls_enabled", false));
      const cert = s.str("docker_tls_cert_path");
      const key = s.str("docker_tls_key_path");
      set("docker_tls_cert_path", cert);
      set("docker_tls_key_path", key);
      set("docker_tls_cacert_path", s.str("docker_tls_cacert_path"));
      if (cert !== undefined && key === undefined) {
        s.required(
          "docker_tls_key_path",
          "docker_tls_cert_path and docker_tls_key_path go together",
        );
      }
      if (key !== undefined && cert === undefined) {
        s.required(
          "docker_tls_cert_path",
          "docker_tls_cert_path and docker_tls_key_path go together",
        );
      }
      break;
    }
    case "json": {
      if (!s.has("json_endpoint")) s.required("json_endpoint", "an http:// or https:// URL");
      set(
        "json_endpoint",
        s.read("json_endpoint", zHttpUrl, "expected an http:// or https:// URL"),
      );
      for (const field of ["host", "port", "weight", "priority", "sni", "max_connections"]) {
        const key = `json_${field}_pattern`;
        const path = s.str(key, field);
        try {
          parseJsonPath(path);
          set(key, path);
        } catch (err) {
          s.invalid(
            key,
            `expected a path of keys and [n] indices such as "address.ip" or "ports[0]" (${(err as Error).message})`,
            path,
          );
        }
      }
      break;
    }
    case "plaintext": {
      if (!s.has("plaintext_endpoint"))
        s.required("plaintext_endpoint", "an http:// or https:// URL");
      set(
        "plaintext_endpoint",
        s.read("plaintext_endpoint", zHttpUrl, "expected an http:// or https:// URL"),
      );
      const pattern = s.str("plaintext_regex_pattern");
      if (pattern !== undefined) {
        const why = regexpProblem(pattern, ["host", "port"]);
        if (why) {
          s.invalid(
            "plaintext_regex_pattern",
            `expected a regular expression with named groups host and port (${why})`,
            pattern,
          );
        } else set("plaintext_regex_pattern", pattern);
      }
      break;
    }
    case "exec": {
      const cmd = s.get("exec_command");
      if (!s.has("exec_command")) {
        s.required(
          "exec_command",
          'program and arguments such as ["/usr/local/bin/discover", "web"]',
        );
      } else if (
        !Array.isArray(cmd) ||
        cmd.length === 0 ||
        cmd[0] === "" ||
        !zStringList.safeParse(cmd).success
      ) {
        s.invalid(
          "exec_command",
          "expected a non-empty list of strings (program and arguments, no shell)",
          cmd,
        );
      } else set("exec_command", cmd);
      break;
    }
    case "consul": {
      if (!s.has("consul_host"))
        s.required("consul_host", 'Consul HTTP address such as "127.0.0.1:8500"');
      set(
        "consul_host",
        s.read(
          "consul_host",
          zConsulHost,
          'expected a Consul HTTP address host:port or http(s)://host:port such as "127.0.0.1:8500"',
        ),
      );
      set("consul_service_name", s.needStr("consul_service_name", "the Consul service to balance"));
      set("consul_service_tag", s.str("consul_service_tag"));
      set("consul_service_passing_only", s.bool("consul_service_passing_only", false));
      let dc = s.str("consul_datacenter");
      const alias = s.str("consul_service_datacenter");
      if (alias !== undefined) {
        if (dc === undefined) {
          dc = alias;
          s.warn(
            "consul_service_datacenter",
            "read as consul_datacenter (gobetween ignores this spelling from its sample config; rename the key)",
          );
        } else {
          s.warn("consul_service_datacenter", "ignored because consul_datacenter is set");
        }
      }
      set("consul_datacenter", dc);
      set("consul_auth_username", s.str("consul_auth_username"));
      set("consul_auth_password", s.str("consul_auth_password"));
      set("consul_tls_enabled", s.bool("consul_tls_enabled", false));
      set("consul_tls_cert_path", s.str("consul_tls_cert_path"));
      set("consul_tls_key_path", s.str("consul_tls_key_path"));
      set("consul_tls_cacert_path", s.str("consul_tls_cacert_path"));
      set("consul_acl_token", s.str("consul_acl_token"));
      break;
    }
  }
}

export function readDiscovery(s: Section): DiscoveryConfig | undefined {
  const errorsBefore = s.report.errors.length;
  let kind: DiscoveryKind | undefined;
  if (!s.has("kind")) {
    s.required("kind", oneOf(DISCOVERY_KINDS).replace("expected ", ""));
  } else {
    const raw = s.get("kind");
    if (typeof raw === "string" && (DISCOVERY_KINDS as readonly string[]).includes(raw)) {
      kind = raw as DiscoveryKind;
    } else {
      const note = raw === "lxd" ? " (lxd discovery is not supported by geoswarm-lb)" : "";
      s.invalid("kind", oneOf(DISCOVERY_KINDS) + note, raw);
    }
  }
  const out: DiscoveryConfig = {
    kind: kind ?? "static",
    failpolicy: s.enum("failpolicy", ["keeplast", "setempty"] as const, "keeplast"),
    interval: s.duration("interval", "0"),
    timeout: s.duration("timeout", "0"),
  };
  if (kind) readDiscoveryKind(s, kind, out);
  s.finish((key) => {
    const owner = keyOwner(DISCOVERY_KEYS, key);
    if (owner === undefined) return undefined;
    if (kind === undefined) return "discovery kind is not valid";
    return `not used by discovery kind ${JSON.stringify(kind)}`;
  });
  return s.report.errors.length === errorsBefore ? out : undefined;
}
