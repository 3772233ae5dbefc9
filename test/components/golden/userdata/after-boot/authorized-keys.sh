#!/bin/sh
# Replaces ~/.ssh/authorized_keys with the stack's keys (ssh.publicKey and ssh.extraPublicKeys).
set -eu
umask 077
mkdir -p "$HOME/.ssh"
tmp=$(mktemp "$HOME/.ssh/authorized_keys.XXXXXX")
cat > "$tmp" <<'GEOSWARM_KEYS'
ssh-ed25519 AAAAC3Nza1 a@b
ssh-rsa AAAAB3Nza2 c@d
GEOSWARM_KEYS
mv -f "$tmp" "$HOME/.ssh/authorized_keys"
echo "authorized_keys: 2 key(s)"
