#!/usr/bin/env bash
# broker/sshc host CA fallback against a real sshd with a HostCertificate:
# a host known only through "@cert-authority" is accepted after its
# certificate is checked, and refused for every way the certificate can be
# wrong; real ssh agrees on the same known_hosts.
# Usage: hostca.sh SSHC_TOOL
. "$KB_TESTLIB/common.sh"
T=$1
kb_tmpdir D
U=$(id -un)
S=$D/sshd
mkdir -p "$S" "$D/home"
for k in ca ca2 user other_host; do
	ssh-keygen -q -t ed25519 -N '' -f "$D/$k" -C "$k" </dev/null
done
ssh-keygen -q -t ed25519 -N '' -f "$S/host_ed25519" </dev/null
# sign NAME CA KEY.pub [ssh-keygen options...]: $D/certs/NAME-cert.pub
sign() {
	local name=$1 ca=$2 key=$3
	shift 3
	mkdir -p "$D/certs"
	cp "$key" "$D/certs/$name.pub"
	ssh-keygen -q -s "$ca" -I "$name" "$@" "$D/certs/$name.pub" 2>/dev/null || kb_fail "ssh-keygen -s ($name)"
}
sign good "$D/ca" "$S/host_ed25519.pub" -h -n 127.0.0.1,host.example -V -5m:+1h
cp "$D/certs/good-cert.pub" "$S/host_ed25519-cert.pub"
sign otherca "$D/ca2" "$S/host_ed25519.pub" -h -n 127.0.0.1 -V -5m:+1h
sign otherkey "$D/ca" "$D/other_host.pub" -h -n 127.0.0.1 -V -5m:+1h
sign principal "$D/ca" "$S/host_ed25519.pub" -h -n 127.0.0.2,host.example -V -5m:+1h
sign noprincipal "$D/ca" "$S/host_ed25519.pub" -h -V -5m:+1h
sign expired "$D/ca" "$S/host_ed25519.pub" -h -n 127.0.0.1 -V -2h:-1h
sign future "$D/ca" "$S/host_ed25519.pub" -h -n 127.0.0.1 -V +1h:+2h
ssh-keygen -q -t rsa -b 2048 -N '' -f "$D/rsaca" -C rsaca </dev/null
sign sha1 "$D/rsaca" "$S/host_ed25519.pub" -h -n 127.0.0.1 -V -5m:+1h -t ssh-rsa
sign sha2 "$D/rsaca" "$S/host_ed25519.pub" -h -n 127.0.0.1 -V -5m:+1h -t rsa-sha2-512
sign usercert "$D/ca" "$S/host_ed25519.pub" -n 127.0.0.1 -V -5m:+1h
# A flipped bit inside the signature (the last bytes of the blob).
python3 - "$D/certs/good-cert.pub" "$D/certs/badsig-cert.pub" <<'EOF'
import base64, sys
t, b, *rest = open(sys.argv[1]).read().split()
raw = bytearray(base64.b64decode(b))
raw[-5] ^= 0x01
open(sys.argv[2], "w").write(t + " " + base64.b64encode(bytes(raw)).decode() + "\n")
EOF
kb_sshd_start "$S" "HostCertificate $S/host_ed25519-cert.pub" "SetEnv HOME=$D/home"
cp "$D/user.pub" "$S/authorized_keys"
CA=$(cut -d' ' -f1,2 "$D/ca.pub")
CA2=$(cut -d' ' -f1,2 "$D/ca2.pub")
HOSTPUB=$(cut -d' ' -f1,2 "$S/host_ed25519.pub")
OTHERPUB=$(cut -d' ' -f1,2 "$D/other_host.pub")
TGT=$U@127.0.0.1:$SSHD_PORT
KH=$D/known_hosts

run() { # EXPECTED_RC [tool args...]
	local want=$1 rc
	shift
	"$T" -i "$D/user" -k "$KH" -a "$S/authorized_keys" "$@" >"$D/out" 2>"$D/err"
	rc=$?
	[ "$rc" -eq "$want" ] || kb_fail "sshc-tool $* exited $rc, expected $want: $(cat "$D/err")"
}
err_has() { grep -qF -- "$1" "$D/err" || kb_fail "error message lacks '$1': $(cat "$D/err")"; }
# ssh_verdict: 0 when real ssh accepts the host with $KH, else 255.
ssh_verdict() {
	ssh -F /dev/null -p "$SSHD_PORT" -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$KH" \
		-o GlobalKnownHostsFile=/dev/null -o KexAlgorithms=curve25519-sha256 -o ConnectTimeout=5 \
		-o IdentitiesOnly=yes -o IdentityAgent=none -i "$D/user" "$U@127.0.0.1" true >/dev/null 2>"$D/ssh.err"
}
H="-H $S/host_ed25519-cert.pub"
HC() { echo "-H $D/certs/$1-cert.pub"; }

# --- accepted: only an @cert-authority line for [127.0.0.1]:PORT ---
echo "@cert-authority [127.0.0.1]:$SSHD_PORT $CA" >"$KH"
run 0 $H "$TGT" exec 'echo via-ca'
[ "$(cat "$D/out")" = via-ca ] || kb_fail "exec output: $(cat "$D/out")"
ssh_verdict || kb_fail "real ssh refuses the CA-trusted host: $(cat "$D/ssh.err")"
run 0 $H "$TGT" add "$D/other_host.pub" "added-via-ca"
grep -qF "$OTHERPUB added-via-ca" "$S/authorized_keys" || kb_fail "authkeys add via CA: $(cat "$S/authorized_keys")"
run 0 $H "$TGT" remove "$D/other_host.pub"
grep -qF "$OTHERPUB" "$S/authorized_keys" && kb_fail "authkeys remove via CA"
kb_pass "host trusted only through @cert-authority: exec, authkeys add/remove; ssh agrees"

# Wildcard pattern as 'broker ca show --bundle --host' writes, and a list.
echo "@cert-authority [127.0.0.1]:* $CA" >"$KH"
run 0 $H "$TGT" connect
ssh_verdict || kb_fail "ssh refuses the wildcard CA line"
printf '@cert-authority nothere.example %s\n@cert-authority [localhost]:*,[127.0.0.1]:%s %s\n' "$CA2" \
	"$SSHD_PORT" "$CA" >"$KH"
run 0 $H "$TGT" connect
# Several certificates in the file: the matching one is found.
run 0 -H "$D/certs/otherca-cert.pub $D/certs/expired-cert.pub $S/host_ed25519-cert.pub" "$TGT" connect
kb_pass "wildcard and list patterns, several certificates"

# --- refused: each way the certificate can be wrong ---
echo "@cert-authority [127.0.0.1]:$SSHD_PORT $CA" >"$KH"
cp "$S/authorized_keys" "$D/ak.before"
run 13 $(HC otherca) "$TGT" add "$D/other_host.pub"
err_has "signed by a CA that no @cert-authority line"
run 12 $(HC otherkey) "$TGT" add "$D/other_host.pub"
err_has "none is a host certificate for its ED25519 key"
run 13 $(HC principal) "$TGT" add "$D/other_host.pub"
err_has "does not list '127.0.0.1' as a principal"
run 13 $(HC noprincipal) "$TGT" connect
err_has "as a principal"
run 13 $(HC expired) "$TGT" add "$D/other_host.pub"
err_has "is not valid now"
run 13 $(HC future) "$TGT" connect
err_has "is not valid now"
run 12 $(HC usercert) "$TGT" connect
err_has "none is a host certificate"
run 13 $(HC badsig) "$TGT" add "$D/other_host.pub"
err_has "does not verify"
printf '@cert-authority [127.0.0.1]:%s %s\n' "$SSHD_PORT" "$(cut -d' ' -f1,2 "$D/rsaca.pub")" >"$KH"
run 0 $(HC sha2) "$TGT" connect
run 13 $(HC sha1) "$TGT" connect
err_has "SHA-1 ssh-rsa"
echo "@cert-authority [127.0.0.1]:$SSHD_PORT $CA" >"$KH"
run 12 -H "$D/no-such-cert.pub" "$TGT" connect
err_has "of 0 certificate(s) the host has"
cmp -s "$S/authorized_keys" "$D/ak.before" || kb_fail "authorized_keys changed on a refused host"
kb_pass "refused: other CA, other key, wrong/no principal, expired, not yet valid, user cert, bad signature, SHA-1 RSA CA signature, none (RSA-SHA2 CA accepted)"

# The CA line must match the name: a CA for another host vouches nothing.
echo "@cert-authority [127.0.0.2]:$SSHD_PORT $CA" >"$KH"
run 12 $H "$TGT" connect
err_has "no entry for '[127.0.0.1]:$SSHD_PORT'"
# Trusted CA is ca2, the host's certificate is by ca: both refuse.
echo "@cert-authority [127.0.0.1]:$SSHD_PORT $CA2" >"$KH"
run 13 $H "$TGT" connect
ssh_verdict && kb_fail "real ssh accepts a certificate by an untrusted CA"
kb_pass "CA line for another name or another CA: refused (ssh agrees)"

# --- CA marked @revoked ---
printf '@cert-authority [127.0.0.1]:%s %s\n@revoked * %s\n' "$SSHD_PORT" "$CA" "$CA" >"$KH"
run 14 $H "$TGT" connect
err_has "marked @revoked"
ssh_verdict && kb_fail "real ssh accepts a host certificate by a revoked CA"
# The host key itself @revoked: refused before authentication.
printf '@cert-authority [127.0.0.1]:%s %s\n@revoked [127.0.0.1]:%s %s\n' "$SSHD_PORT" "$CA" "$SSHD_PORT" \
	"$HOSTPUB" >"$KH"
run 14 $H "$TGT" connect
kb_pass "revoked CA and revoked host key: refused (ssh agrees)"

# --- a pinned, different plain key stays a mismatch despite a valid CA ---
printf '[127.0.0.1]:%s %s\n@cert-authority [127.0.0.1]:%s %s\n' "$SSHD_PORT" "$OTHERPUB" "$SSHD_PORT" "$CA" >"$KH"
run 13 $H "$TGT" connect
err_has "REMOTE HOST IDENTIFICATION HAS CHANGED"
# The pinned key itself still works with or without CA lines.
printf '[127.0.0.1]:%s %s\n@cert-authority [127.0.0.1]:%s %s\n' "$SSHD_PORT" "$HOSTPUB" "$SSHD_PORT" "$CA2" >"$KH"
run 0 -H "$D/no-such-cert.pub" "$TGT" connect
kb_pass "pinned mismatching key plus valid CA line: mismatch; pinned key: accepted without certificates"

# No CA line: the unknown-host error says how to trust a host CA.
: >"$KH"
run 12 $H "$TGT" connect
err_has "@cert-authority [127.0.0.1]:$SSHD_PORT <CA key>"
run 17 -H 'x;rm -rf /' "$TGT" connect
kb_pass "unknown host message, bad host certificate paths"
