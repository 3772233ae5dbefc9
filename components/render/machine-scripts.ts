// Scripts the machines' remote commands run after boot: the cloud-init check, authorized_keys,
// the Docker engine's TLS files, the standalone Swarm units and the swarm-mode join. Pure; tests
// run shellcheck on each and run the cloud-init check against recorded `cloud-init status` outputs.
import { shq } from "./scripts";

/** Embeds `content` in a script as a quoted here-document (no expansion inside). */
export function heredoc(content: string, target: string, delimiter = "GEOSWARM_EOF"): string {
  if (content.split("\n").includes(delimiter))
    throw new Error(`heredoc: the content for ${target} contains the line ${delimiter}`);
  const body = content.endsWith("\n") ? content : `${content}\n`;
  return `cat >${target} <<'${delimiter}'\n${body}${delimiter}`;
}

/**
 * Waits for cloud-init, then fails when it reported errors, naming each failing module (from
 * `cloud-init status --long --format json`: the top-level `errors` and each stage's, whose entries
 * read "('<module>', <exception>)"). Recoverable errors (status 2, "degraded done") are printed as
 * warnings and pass. Reading JSON needs python3, which cloud-init itself runs on.
 */
export function cloudInitCheckScript(): string {
  return `#!/bin/sh
# Fails (exit 1) when cloud-init failed on this machine, naming the failing modules.
set -u
# --wait only blocks; the second call reads the final status as JSON.
cloud-init status --wait >/dev/null 2>&1 || true
status_json=$(cloud-init status --long --format json 2>/dev/null) || true
printf '%s' "$status_json" | python3 -c '
import json, re, sys
host = sys.argv[1]
raw = sys.stdin.read()
try:
    s = json.loads(raw)
except ValueError:
    sys.exit("cloud-init on %s: unreadable status output: %r" % (host, raw[:300]))
errors = list(s.get("errors") or [])
for stage in ("init-local", "init", "modules-config", "modules-final"):
    for e in (s.get(stage) or {}).get("errors") or []:
        if e not in errors:
            errors.append(e)
status = s.get("status")
if errors or status == "error":
    lines = []
    for e in errors or [s.get("detail") or "unknown error"]:
        m = re.match(r"^\\(\\x27([A-Za-z0-9_]+)\\x27, (.*)\\)$", e, re.S)
        lines.append("module %s: %s" % (m.group(1), m.group(2)) if m else e)
    sys.exit("cloud-init failed on %s:\\n  %s\\n(details: sudo cat /var/log/cloud-init-output.log)" % (host, "\\n  ".join(lines)))
if status != "done":
    sys.exit("cloud-init on %s did not finish: status %r" % (host, status))
for kind, messages in sorted((s.get("recoverable_errors") or {}).items()):
    for msg in messages:
        sys.stderr.write("cloud-init %s on %s: %s\\n" % (kind, host, msg))
print("cloud-init done on %s" % host)
' "$(hostname)"
`;
}

/**
 * Writes the login user's ~/.ssh/authorized_keys from `keys` (one OpenSSH public key line each),
 * atomically. The key pair's key is only honoured at first boot; this is how a key rotates.
 */
export function authorizedKeysScript(keys: string[]): string {
  if (keys.length === 0) throw new Error("authorizedKeysScript: no keys (that would lock SSH out)");
  for (const k of keys) {
    if (!/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+( [^\n]*)?$/.test(k))
      throw new Error(
        `authorizedKeysScript: "${k.slice(0, 40)}..." is not an OpenSSH public key line`,
      );
  }
  return `#!/bin/sh
# Replaces ~/.ssh/authorized_keys with the stack's keys (ssh.publicKey and ssh.extraPublicKeys).
set -eu
umask 077
mkdir -p "$HOME/.ssh"
tmp=$(mktemp "$HOME/.ssh/authorized_keys.XXXXXX")
cat > "$tmp" <<'GEOSWARM_KEYS'
${keys.join("\n")}
GEOSWARM_KEYS
mv -f "$tmp" "$HOME/.ssh/authorized_keys"
echo "authorized_keys: ${keys.length} key(s)"
`;
}

/** The files dockerTlsInstallScript reads from stdin, by name. */
const DOCKER_TLS_FILES = ["ca.pem", "cert.pem", "key.pem", "daemon.json"] as const;

/** stdin for dockerTlsInstallScript: one "<name> <base64>" line per file. */
export function dockerTlsBundle(files: Record<(typeof DOCKER_TLS_FILES)[number], string>): string {
  return DOCKER_TLS_FILES.map((n) => `${n} ${Buffer.from(files[n]).toString("base64")}\n`).join("");
}

/**
 * Installs the engine's TLS files and its TLS daemon.json, read from stdin (dockerTlsBundle), and
 * restarts docker only when one of them changed. Delivered after boot so that user data, which
 * forces a new instance when it changes, never holds a certificate (certificates renew).
 */
export function dockerTlsInstallScript(tlsDir: string): string {
  return `#!/bin/sh
# Installs the Docker engine's TLS files and daemon.json from stdin; restarts docker on a change.
set -eu
tls_dir=${shq(tlsDir)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
while read -r name data; do
  case "$name" in
    ca.pem | cert.pem | key.pem | daemon.json) printf '%s' "$data" | base64 -d >"$work/$name" ;;
    *)
      echo "unexpected file on stdin: $name" >&2
      exit 1
      ;;
  esac
done
changed=0
put() {
  if [ ! -s "$work/$1" ]; then
    echo "missing $1 on stdin" >&2
    exit 1
  fi
  if ! sudo cmp -s "$work/$1" "$2"; then
    sudo install -D -m "$3" "$work/$1" "$2"
    changed=1
  fi
}
put ca.pem "$tls_dir/ca.pem" 0644
put cert.pem "$tls_dir/cert.pem" 0644
put key.pem "$tls_dir/key.pem" 0600
put daemon.json /etc/docker/daemon.json 0644
if [ "$changed" -eq 1 ]; then
  if ! sudo systemctl restart docker; then
    sudo journalctl -u docker -n 30 --no-pager >&2 || true
    exit 1
  fi
fi
sudo docker version --format 'docker {{.Server.Version}} with TLS on :2376'
`;
}

/**
 * Swarm mode: joins this host as a worker with the token on stdin, retrying while the manager is
 * not up yet. Idempotent: an active node that joined with the same token stays; a different token
 * (a new manager, so a new swarm) makes it leave and join again.
 */
export function swarmJoinScript(
  advertiseIp: string,
  managerAddr: string,
  tokenFile: string,
): string {
  return `#!/bin/sh
# Joins this Docker host to the swarm as a worker with the token read from stdin.
set -eu
advertise=${shq(advertiseIp)}
manager=${shq(managerAddr)}
token_file=${shq(tokenFile)}
read -r token
if [ -z "$token" ]; then
  echo "no join token on stdin" >&2
  exit 1
fi
state=$(sudo docker info --format '{{.Swarm.LocalNodeState}}')
if [ "$state" = "active" ] && [ "$(sudo cat "$token_file" 2>/dev/null || true)" = "$token" ]; then
  echo "already a worker of the swarm at $manager"
  exit 0
fi
if [ "$state" != "inactive" ]; then
  sudo docker swarm leave --force
fi
i=0
until sudo docker swarm join --advertise-addr "$advertise" --token "$token" "$manager"; do
  i=$((i + 1))
  if [ "$i" -ge 60 ]; then
    echo "could not join the swarm at $manager" >&2
    exit 1
  fi
  sleep 10
done
printf '%s\\n' "$token" | sudo install -D -m 0600 /dev/stdin "$token_file"
`;
}

/**
 * Runs `script` (written for root, e.g. installNodeScript) with sudo: the login user's remote
 * command embeds it verbatim and hands it to `sudo sh`.
 */
export function asRootScript(what: string, script: string): string {
  return `#!/bin/sh
# Runs ${what} as root.
set -eu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
${heredoc(script, '"$work/script.sh"')}
sudo sh "$work/script.sh"
`;
}

/**
 * Installs a systemd unit (standalone Swarm agent or manager) and (re)starts it only when its
 * file changed or it is not running; idempotent, so the step that runs it can run again in place
 * when the unit's content (image, strategy, discovery URL) changes.
 */
export function unitInstallScript(unitName: string, unit: string): string {
  if (!/^[A-Za-z0-9@._-]+\.service$/.test(unitName))
    throw new Error(`unitInstallScript: "${unitName}" is not a .service unit name`);
  const target = `/etc/systemd/system/${unitName}`;
  return `#!/bin/sh
# Installs ${unitName}; restarts it only when the unit changed.
set -eu
unit=${shq(unitName)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
${heredoc(unit, '"$work/unit"')}
if ! sudo cmp -s "$work/unit" ${shq(target)}; then
  sudo install -D -m 0644 "$work/unit" ${shq(target)}
  sudo systemctl daemon-reload
  sudo systemctl enable "$unit"
  action=restart
elif sudo systemctl is-active --quiet "$unit"; then
  action=""
else
  action=start
fi
if [ -n "$action" ] && ! sudo systemctl "$action" "$unit"; then
  sudo journalctl -u "$unit" -n 30 --no-pager >&2 || true
  exit 1
fi
echo "$unit: \${action:-unchanged, running}"
`;
}
