#!/bin/sh
# Installs Consul 1.20.2-1 with geoswarm's config (stdin) and unit on balancer; restarts
# the agent only on a change, then waits for it (and on a running server, for the cluster).
set -eu
version='1.20.2-1'
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/config.json"
if [ ! -s "$work/config.json" ]; then
  echo "no Consul config on stdin" >&2
  exit 1
fi
# put <file in $work> <destination> <mode> <group>
put() {
  if ! sudo cmp -s "$work/$1" "$2"; then
    sudo install -D -m "$3" -o root -g "$4" "$work/$1" "$2"
    changed=1
  fi
}
cat >"$work/hashicorp.asc" <<'GEOSWARM_EOF'
-----BEGIN PGP PUBLIC KEY BLOCK-----

mQINBGO9u+MBEADmE9i8rpt8xhRqxbzlBG06z3qe+e1DI+SyjscyVVRcGDrEfo+J
W5UWw0+afey7HFkaKqKqOHVVGSjmh6HO3MskxcpRm/pxRzfni/OcBBuJU2DcGXnG
nuRZ+ltqBncOuONi6Wf00McTWviLKHRrP6oWwWww7sYF/RbZp5xGmMJ2vnsNhtp3
8LIMOmY2xv9LeKMh++WcxQDpIeRohmSJyknbjJ0MNlhnezTIPajrs1laLh/IVKVz
7/Z73UWX+rWI/5g+6yBSEtj368N7iyq+hUvQ/bL00eyg1Gs8nE1xiCmRHdNjMBLX
lHi0V9fYgg3KVGo6Hi/Is2gUtmip4ZPnThVmB5fD5LzS7Y5joYVjHpwUtMD0V3s1
HiHAUbTH+OY2JqxZDO9iW8Gl0rCLkfaFDBS2EVLPjo/kq9Sn7vfp2WHffWs1fzeB
HI6iUl2AjCCotK61nyMR33rNuNcbPbp+17NkDEy80YPDRbABdgb+hQe0o8htEB2t
CDA3Ev9t2g9IC3VD/jgncCRnPtKP3vhEhlhMo3fUCnJI7XETgbuGntLRHhmGJpTj
ydudopoMWZAU/H9KxJvwlVXiNoBYFvdoxhV7/N+OBQDLMevB8XtPXNQ8ZOEHl22G
hbL8I1c2SqjEPCa27OIccXwNY+s0A41BseBr44dmu9GoQVhI7TsetpR+qwARAQAB
tFFIYXNoaUNvcnAgU2VjdXJpdHkgKEhhc2hpQ29ycCBQYWNrYWdlIFNpZ25pbmcp
IDxzZWN1cml0eStwYWNrYWdpbmdAaGFzaGljb3JwLmNvbT6JAlQEEwEIAD4CGwMF
CwkIBwIGFQoJCAsCBBYCAwECHgECF4AWIQR5iuxlTlwVQoyOQu6qFvy8piHnAQUC
Y728PQUJCWYB2gAKCRCqFvy8piHnAd16EADeBtTgkdVEvct40TH/9HKkR/Lc/ohM
rer6FFHdKmceJ6Ma8/Qm4nCO5C7c4+EPjsUXdhK5w8DSdC5VbKLJDY1EnDlmU5B1
wSFkGoYKoB8lUn30E77E33MTu2kfrSuF605vetq269CyBwIJV7oNN6311dW8iQ6z
IytTtlJbVr4YZ7Vst40/uR4myumk9bVBGEd6JhFAPmr/um+BZFhRf9/8xtOryOyB
GF2d+bc9IoAugpxwv0IowHEqkI4RpK2U9hvxG80sTOcmerOuFbmNyPwnEgtJ6CM1
bc8WAmObJiQcRSLbcgF+a7+2wqrUbCqRE7QoS2wjd1HpUVPmSdJN925c2uaua2A4
QCbTEg8kV2HiP0HGXypVNhZJt5ouo0YgR6BSbMlsMHniDQaSIP1LgmEz5xD4UAxO
Y/GRR3LWojGzVzBb0T98jpDgPtOu/NpKx3jhSpE2U9h/VRDiL/Pf7gvEIxPUTKuV
5D8VqAiXovlk4wSH13Q05d9dIAjuinSlxb4DVr8IL0lmx9DyHehticmJVooHDyJl
HoA2q2tFnlBBAFbN92662q8Pqi9HbljVRTD1vUjof6ohaoM+5K1C043dmcwZZMTc
7gV1rbCuxh69rILpjwM1stqgI1ONUIkurKVGZHM6N2AatNKqtBRdGEroQo1aL4+4
u+DKFrMxOqa5b7kCDQRjvbwTARAA0ut7iKLj9sOcp5kRG/5V+T0Ak2k2GSus7w8e
kFh468SVCNUgLJpLzc5hBiXACQX6PEnyhLZa8RAG+ehBfPt03GbxW6cK9nx7HRFQ
GA79H5B4AP3XdEdT1gIL2eaHdQot0mpF2b07GNfADgj99MhpxMCtTdVbBqHY8YEQ
Uq7+E9UCNNs45w5ddq07EDk+o6C3xdJ42fvS2x44uNH6Z6sdApPXLrybeun74C1Z
Oo4Ypre4+xkcw2q2WIhy0Qzeuw+9tn4CYjrhw/+fvvPGUAhtYlFGF6bSebmyua8Q
MTKhwqHqwJxpjftM3ARdgFkhlH1H+PcmpnVutgTNKGcy+9b/lu/Rjq/47JZ+5VkK
ZtYT/zO1oW5zRklHvB6R/OcSlXGdC0mfReIBcNvuNlLhNcBA9frNdOk3hpJgYDzg
f8Ykkc+4z8SZ9gA3g0JmDHY1X3SnSadSPyMas3zH5W+16rq9E+MZztR0RWwmpDtg
Ff1XGMmvc+FVEB8dRLKFWSt/E1eIhsK2CRnaR8uotKW/A/gosao0E3mnIygcyLB4
fnOM3mnTF3CcRumxJvnTEmSDcoKSOpv0xbFgQkRAnVSn/gHkcbVw/ZnvZbXvvseh
7dstp2ljCs0queKU+Zo22TCzZqXX/AINs/j9Ll67NyIJev445l3+0TWB0kego5Fi
UVuSWkMAEQEAAYkEcgQYAQgAJhYhBHmK7GVOXBVCjI5C7qoW/LymIecBBQJjvbwT
AhsCBQkJZgGAAkAJEKoW/LymIecBwXQgBBkBCAAdFiEE6wr14plJaVlvmYc+cG5m
g2nAhekFAmO9vBMACgkQcG5mg2nAhenPURAAimI0EBZbqpyHpwpbeYq3Pygg1bdo
IlBQUVoutaN1lR7kqGXwYH+BP6G40x79LwVy/fWV8gO7cDX6D1yeKLNbhnJHPBus
FJDmzDPbjTlyWlDqJoWMiPqfAOc1A1cHodsUJDUlA01j1rPTho0S9iALX5R50Wa9
sIenpfe7RVunDwW5gw6y8me7ncl5trD0LM2HURw6nYnLrxePiTAF1MF90jrAhJDV
+krYqd6IFq5RHKveRtCuTvpL7DlgVCtntmbXLbVC/Fbv6w1xY3A7rXko/03nswAi
AXHKMP14UutVEcLYDBXbDrvgpb2p2ZUJnujs6cNyx9cOPeuxnke8+ACWvpnWxwjL
M5u8OckiqzRRobNxQZ1vLxzdovYTwTlUAG7QjIXVvOk9VNp/ERhh0eviZK+1/ezk
Z8nnPjx+elThQ+r16EM7hD0RDXtOR1VZ0R3OL64AlZYDZz1jEA3lrGhvbjSIfBQk
T6mxKUsCy3YbElcOyuohmPRgT1iVDIZ/1iPL0Q0HGm4+EsWCdH6fAPB7TlHD8z2D
7JCFLihFDWs5lrZyuWMO9nryZiVjJrOLPcStgJYVd/MhRHR4hC6g09bgo25RMJ6f
gyzL4vlEB7aSUih7yjgL9s5DKXP2J71dAhIlF8nnM403R2xEeHyivnyeR/9Ifn7M
PJvUMUuoG+ZANSMkrw//XA31o//TVk9WsLD1Edxt5XZCoR+fS+Vz8ScLwP1d/vQE
OW/EWzeMRG15C0td1lfHvwPKvf2MN+WLenp9TGZ7A1kEHIpjKvY51AIkX2kW5QLu
Y3LBb+HGiZ6j7AaU4uYR3kS1+L79v4kyvhhBOgx/8V+b3+2pQIsVOp79ySGvVwpL
FJ2QUgO15hnlQJrFLRYa0PISKrSWf35KXAy04mjqCYqIGkLsz2qQCY2lGcD5k05z
bBC4TvxwVxv0ftl2C5Bd0ydl/2YM7GfLrmZmTijK067t4OO+2SROT2oYPDsMtZ6S
E8vUXvoGpQ8tf5Nkrn2t0zDG3UDtgZY5UVYnZI+xT7WHsCz//8fY3QMvPXAuc33T
vVdiSfP0aBnZXj6oGs/4Vl1Dmm62XLr13+SMoepMWg2Vt7C8jqKOmhFmSOWyOmRH
UZJR7nKvTpFnL8atSyFDa4o1bk2U3alOscWS8u8xJ/iMcoONEBhItft6olpMVdzP
CTrnCAqMjTSPlQU/9EGtp21KQBed2KdAsJBYuPgwaQeyNIvQEOXmINavl58VD72Y
2T4TFEY8dUiExAYpSodbwBL2fr8DJxOX68WH6e3fF7HwX8LRBjZq0XUwh0KxgHN+
b9gGXBvgWnJr4NSQGGPiSQVNNHt2ZcBAClYhm+9eC5/VwB+Etg4+1wDmggztiqE=
=FdUF
-----END PGP PUBLIC KEY BLOCK-----
GEOSWARM_EOF
codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)
echo "deb [signed-by=/etc/apt/keyrings/hashicorp.asc] https://apt.releases.hashicorp.com $codename main" >"$work/hashicorp.list"
put hashicorp.asc /etc/apt/keyrings/hashicorp.asc 0644 root
put hashicorp.list /etc/apt/sources.list.d/hashicorp.list 0644 root
cat >"$work/extra-0" <<'GEOSWARM_EOF'
#!/bin/sh
# geoswarm-lb exec discovery: the Consul servers' HTTP API addresses, one "host:port" per line.
set -eu
agent='http://127.0.0.1:18500'
servers=$(curl -fsS --max-time 4 "$agent/v1/health/service/consul?passing=1" |
  jq -r '.[] | "\(.Node.Address):8500"')
if [ -z "$servers" ]; then
  echo "no healthy consul servers in the catalog" >&2
  exit 1
fi
printf '%s\n' "$servers"
GEOSWARM_EOF
put extra-0 '/usr/local/lib/geoswarm/consul-servers.sh' '0755' root
# The apt key and source (and extra files) alone do not restart the agent: only what follows counts.
changed=0
installed=$(dpkg-query -W consul 2>/dev/null | cut -f2)
if [ "$installed" != "$version" ]; then
  # At first boot apt-daily or unattended-upgrades may hold the dpkg lock: wait for it.
  sudo apt-get -o DPkg::Lock::Timeout=600 update -q
  sudo env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get -o DPkg::Lock::Timeout=600 \
    install -y -q --allow-downgrades --allow-change-held-packages "consul=$version"
  tries=0
  until sudo apt-mark hold consul; do
    tries=$((tries + 1))
    [ "$tries" -lt 60 ] || exit 1
    sleep 5
  done
  changed=1
fi
# The package ships a default config; the unit reads ours only, the file would only mislead.
sudo rm -f /etc/consul.d/consul.hcl
put config.json /etc/consul.d/geoswarm.json 0640 consul
cat >"$work/consul.service" <<'GEOSWARM_EOF'
[Unit]
Description=Consul agent (geoswarm)
Documentation=https://developer.hashicorp.com/consul/docs
Wants=network-online.target
After=network-online.target
ConditionFileNotEmpty=/etc/consul.d/geoswarm.json

[Service]
Type=notify
User=consul
Group=consul
ExecStart=/usr/bin/consul agent -config-file=/etc/consul.d/geoswarm.json
ExecReload=/bin/kill --signal HUP $MAINPID
KillMode=process
KillSignal=SIGTERM
Restart=on-failure
RestartSec=2s
TimeoutStartSec=300s
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
GEOSWARM_EOF
put consul.service /etc/systemd/system/consul.service 0644 root
if [ "$changed" -eq 1 ]; then
  sudo systemctl daemon-reload
  sudo systemctl enable consul
  sudo systemctl restart --no-block consul
else
  sudo systemctl enable --now --no-block consul
fi
cat >"$work/wait.sh" <<'GEOSWARM_EOF'
#!/bin/sh
# Waits (at most 300 s) for the local Consul agent and, with "cluster", for the whole cluster.
set -u
node='balancer'
http_addr='http://127.0.0.1:18500'
# The servers to wait for: the caller's list (the voters before a restart), else the config's.
servers=${WAIT_SERVERS:-''}
wait_seconds=300
interval=5
mode=${1:-agent}
alive() {
  printf '%s\n' "$members" |
    awk -v n="$1" -v t="$2" 'NR > 1 && $1 == n && $3 == "alive" && (t == "" || $4 == t) { f = 1 } END { exit !f }'
}
voter() {
  printf '%s\n' "$peers" | awk -v n="$1" 'NR > 1 && $1 == n && $5 == "true" { f = 1 } END { exit !f }'
}
has_leader() {
  printf '%s\n' "$peers" | awk 'NR > 1 && $4 == "leader" { f = 1 } END { exit !f }'
}
probe() {
  members=$(consul members -http-addr="$http_addr" 2>&1) || return 1
  alive "$node" "" || return 1
  [ "$mode" = cluster ] || return 0
  peers=$(consul operator raft list-peers -http-addr="$http_addr" 2>&1) || return 1
  has_leader || return 1
  for s in $servers; do
    voter "$s" || return 1
    alive "$s" server || return 1
  done
}
members="" peers=""
waited=0
until probe; do
  if [ "$waited" -ge "$wait_seconds" ]; then
    if [ "$mode" = cluster ]; then
      echo "consul: after $wait_seconds s there is no leader with every server ($servers) alive and voting, seen from $node" >&2
    else
      echo "consul: the agent $node did not come up alive within $wait_seconds s" >&2
    fi
    printf 'consul members:\n%s\nconsul operator raft list-peers:\n%s\n' "$members" "$peers" >&2
    exit 1
  fi
  sleep "$interval"
  waited=$((waited + interval))
done
if [ "$mode" = cluster ]; then
  echo "consul: $node is back; leader elected, servers $servers alive and voting"
else
  echo "consul: agent $node is alive"
fi
GEOSWARM_EOF
sh "$work/wait.sh" agent
