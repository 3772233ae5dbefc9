#!/usr/bin/env bash
# A CA and a server certificate for 127.0.0.1 signed by it, for a test balancer's HTTPS API (what
# the Balancer component gets from the cluster CA for its Elastic IP).  api-cert.sh <dir>
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=geoswarm test CA" -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/CN=127.0.0.1" -keyout api.key -out api.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >api.ext
openssl x509 -req -in api.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
  -extfile api.ext -out api.crt 2>/dev/null
