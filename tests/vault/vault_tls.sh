#!/bin/bash
# TLS to Vault: the emulator serves https with a certificate from a test
# CA made here with openssl.  VAULT_CACERT makes it trusted; without it,
# with another CA, or for a name the certificate does not cover, the
# broker refuses to talk (verification is always on).
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/vault/lib.sh"
kb_tmpdir T
cd "$T" || exit 1
mkca() { # NAME
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$1" \
		-keyout "$1.key" -out "$1.pem" 2>/dev/null || kb_fail "openssl: CA $1"
}
mkcert() { # NAME CA SAN
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
		-keyout "$1.key" -out "$1.csr" 2>/dev/null &&
	printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$3" >"$1.ext" &&
	openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 1 \
		-extfile "$1.ext" -out "$1.pem" 2>/dev/null || kb_fail "openssl: cert $1"
}
mkca ca
mkca other-ca
mkcert server ca "IP:127.0.0.1,DNS:localhost"
mkcert wrong-name ca "DNS:vault.example.com"

vault_emulator_start "$T" --tls-cert server.pem --tls-key server.key
export VAULT_CACERT=$T/ca.pem
printf 'over tls' >"$T/v"
[ "$($VDRIVER put keybroker/tls/one "$T/v")" = 1 ] || kb_fail "put over TLS with VAULT_CACERT"
[ "$($VDRIVER get keybroker/tls/one 2>/dev/null)" = "over tls" ] || kb_fail "get over TLS"
[ "$(VAULT_ADDR=https://localhost:$VAULT_PORT $VDRIVER get keybroker/tls/one 2>/dev/null)" = "over tls" ] ||
	kb_fail "get over TLS by host name"
kb_pass "https with VAULT_CACERT"

(unset VAULT_CACERT; VAULT_CLIENT_TIMEOUT=2 expect_fail 5 'cannot reach Vault at https://127.0.0.1:[0-9]+.*(certificate|SSL)' \
	$VDRIVER get keybroker/tls/one) || exit 1
VAULT_CACERT=$T/other-ca.pem VAULT_CLIENT_TIMEOUT=2 expect_fail 5 '(certificate|SSL)' $VDRIVER get keybroker/tls/one
VAULT_CACERT=$T/missing.pem VAULT_CLIENT_TIMEOUT=2 expect_fail 5 'cannot reach Vault|CA|cert' $VDRIVER get keybroker/tls/one
kb_pass "untrusted certificate refused (no VAULT_CACERT, another CA, missing CA file)"

kill "$VAULT_EMULATOR_PID"
vault_emulator_start "$T" --tls-cert wrong-name.pem --tls-key wrong-name.key
export VAULT_CACERT=$T/ca.pem
VAULT_CLIENT_TIMEOUT=2 expect_fail 5 '(certificate|SSL|name)' $VDRIVER get keybroker/tls/one
kb_pass "a certificate for another name is refused"
