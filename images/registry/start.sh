#!/bin/sh
# The local target's registry (Debian's docker-registry 2.8), started by its container:
# - TLS with a certificate from a CA made here at the first start and kept in the volume
#   (bring-up copies ca.pem to .elm-infra/<target>/registry-ca.pem and to every host's Docker);
#   the certificate names REGISTRY_TLS_NAMES (openssl's subjectAltName list) and is remade when
#   they change;
# - htpasswd (bcrypt) auth: the file starts empty, so nobody gets in until bring-up writes the one
#   user (its password through `htpasswd -i`, on stdin);
# - no request log: the access log is off and any line of a request's context (which names the
#   user) is dropped before it reaches the container's log.
set -eu
state=/var/lib/docker-registry
tls="$state/tls"
names="${REGISTRY_TLS_NAMES:?REGISTRY_TLS_NAMES is not set}"
mkdir -p "$tls"
umask 077
if [ ! -s "$tls/ca.pem" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=elm-infra registry CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  rm -f "$tls/cert.pem"
fi
if [ ! -s "$tls/cert.pem" ] || [ "$(cat "$tls/names" 2>/dev/null)" != "$names" ]; then
  openssl req -newkey rsa:2048 -nodes -subj "/CN=elm-infra registry" \
    -keyout "$tls/key.pem" -out "$tls/cert.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$names" >"$tls/ext"
  openssl x509 -req -in "$tls/cert.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 825 -extfile "$tls/ext" -out "$tls/cert.pem" 2>/dev/null
  printf '%s' "$names" >"$tls/names"
fi
chmod 0644 "$tls/ca.pem"
[ -f "$state/htpasswd" ] || : >"$state/htpasswd"
rm -f /tmp/registry-log && mkfifo /tmp/registry-log
grep --line-buffered -v -e 'http\.request' -e 'auth\.user' -e 'authenticating user' </tmp/registry-log &
exec docker-registry serve /etc/docker/registry/config.yml >/tmp/registry-log 2>&1
