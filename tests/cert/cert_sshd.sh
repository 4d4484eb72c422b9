# A real sshd trusting our CA (TrustedUserCAKeys) with our KRL (RevokedKeys):
# accepts our certificate for the right principal only, not before or after
# its validity window, not from another CA, and not once our KRL revokes it.
. "$KB_TESTLIB/common.sh"
kb_tmpdir T
cd "$T" || exit 1
me=$(id -un)

"$BROKER" krl create -f revoked.krl || kb_fail "empty KRL"
ssh-keygen -q -t ed25519 -N '' -C ca -f ca || kb_fail keygen
ssh-keygen -q -t ecdsa -N '' -C other-ca -f other_ca || kb_fail keygen
ssh-keygen -q -t ed25519 -N '' -C user -f user || kb_fail keygen
: >authorized_keys
kb_sshd_start "$T/sshd" "TrustedUserCAKeys $T/ca.pub" "RevokedKeys $T/revoked.krl" \
	"AuthorizedKeysFile $T/authorized_keys"

login() { # CERT [COMMAND]
	kb_ssh -i "$T/user" -o CertificateFile="$1" -o IdentitiesOnly=yes -o IdentityAgent=none \
		-o PasswordAuthentication=no "$me@127.0.0.1" "${2:-echo logged-in}" 2>>ssh.err
}
sign() { # OUTNAME broker-cert-sign-args...
	local out=$1
	shift
	cp user.pub "$out.pub"
	"$BROKER" -q cert sign --ca ca -f "$out.pub" "$@" || kb_fail "sign $out"
}

sign good -I good -n "nobody,$me" -V -1m:+10m -z 10
[ "$(login good-cert.pub)" = logged-in ] || kb_fail "valid certificate refused: $(tail -5 ssh.err; tail -5 "$SSHD_LOG")"
grep -q "Accepted publickey for $me .*ED25519-CERT.*ID good (serial 10)" "$SSHD_LOG" ||
	kb_fail "sshd did not log a certificate login: $(tail -5 "$SSHD_LOG")"
kb_pass "certificate for $me accepted"

sign wrong -I wrong -n "nobody,${me}x" -V -1m:+10m
login wrong-cert.pub && kb_fail "certificate without principal $me accepted"
grep -q "Certificate invalid: name is not a listed principal" "$SSHD_LOG" || kb_fail "sshd reason (principal)"
kb_pass "wrong principal refused"

sign expired -I expired -n "$me" -V -2h:-1h
login expired-cert.pub && kb_fail "expired certificate accepted"
grep -q "Certificate invalid: expired" "$SSHD_LOG" || kb_fail "sshd reason (expired)"
sign future -I future -n "$me" -V +1h:+2h
login future-cert.pub && kb_fail "not-yet-valid certificate accepted"
grep -q "Certificate invalid: not yet valid" "$SSHD_LOG" || kb_fail "sshd reason (not yet valid)"
kb_pass "expired and not-yet-valid refused"

# A short window: works now, refused once it has passed.
sign short -I short -n "$me" -V -1m:+4s
[ "$(login short-cert.pub)" = logged-in ] || kb_fail "short-lived certificate refused early"
sleep 5
login short-cert.pub && kb_fail "certificate accepted after expiry"
kb_pass "short-lived certificate refused after expiry"

cp user.pub other.pub
"$BROKER" -q cert sign --ca other_ca -f other.pub -I other -n "$me" -V -1m:+10m || kb_fail sign
login other-cert.pub && kb_fail "certificate from an untrusted CA accepted"
kb_pass "untrusted CA refused"

sign forced -I forced -n "$me" -V -1m:+10m -O "force-command=echo forced-command"
[ "$(login forced-cert.pub "echo mine")" = forced-command ] || kb_fail "force-command not applied"
kb_pass "force-command applied"

# Revocation by our KRL: by serial, then by key id, while other certs still work.
sign byid -I revoke-me -n "$me" -V -1m:+10m -z 11
"$BROKER" krl create -f new.krl --ca ca.pub --serial 10 || kb_fail "krl create"
mv new.krl revoked.krl
login good-cert.pub && kb_fail "certificate revoked by serial accepted"
[ "$(login byid-cert.pub)" = logged-in ] || kb_fail "unrevoked certificate refused"
"$BROKER" krl create -u -f revoked.krl --ca ca.pub --id revoke-me || kb_fail "krl update"
login byid-cert.pub && kb_fail "certificate revoked by key id accepted"
login good-cert.pub && kb_fail "update lost the serial"
grep -q "revoked" "$SSHD_LOG" || kb_fail "sshd did not log the revocation"
# Revoking the user's plain key revokes every certificate for it.
sign fresh -I fresh -n "$me" -V -1m:+10m -z 12
[ "$(login fresh-cert.pub)" = logged-in ] || kb_fail "fresh certificate refused"
"$BROKER" krl create -u -f revoked.krl --key user.pub || kb_fail "krl --key"
login fresh-cert.pub && kb_fail "certificate for a revoked key accepted"
kb_pass "sshd RevokedKeys honours our KRL (serial, key id, key)"
