#!/bin/sh
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
        m = re.match(r"^\(\x27([A-Za-z0-9_]+)\x27, (.*)\)$", e, re.S)
        lines.append("module %s: %s" % (m.group(1), m.group(2)) if m else e)
    sys.exit("cloud-init failed on %s:\n  %s\n(details: sudo cat /var/log/cloud-init-output.log)" % (host, "\n  ".join(lines)))
if status != "done":
    sys.exit("cloud-init on %s did not finish: status %r" % (host, status))
for kind, messages in sorted((s.get("recoverable_errors") or {}).items()):
    for msg in messages:
        sys.stderr.write("cloud-init %s on %s: %s\n" % (kind, host, msg))
print("cloud-init done on %s" % host)
' "$(hostname)"
