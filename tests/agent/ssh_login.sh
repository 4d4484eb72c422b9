#!/usr/bin/env bash
# ssh logs into a real sshd through broker-agent: with a plain key (Ed25519
# and RSA, i.e. rsa-sha2 flags), with a certificate made by ssh-keygen -s,
# with a destination-restricted key (ssh-add -h, session-bind); and
# ssh-keygen -Y sign through the agent.
. "$KB_TESTLIB/common.sh"
kb_tmpdir T
me=$(id -un)
ssh-keygen -q -t ed25519 -N '' -C user-ed -f "$T/k_ed"
ssh-keygen -q -t rsa -b 3072 -N '' -C user-rsa -f "$T/k_rsa"
ssh-keygen -q -t ecdsa -N '' -C user-cert -f "$T/k_cert"
ssh-keygen -q -t ed25519 -N '' -C ca -f "$T/ca"
ssh-keygen -q -s "$T/ca" -I "kbtest-cert" -n "$me" -V -5m:+1h "$T/k_cert.pub" || kb_fail "ssh-keygen -s"
ssh-keygen -q -t ed25519 -N '' -C user-restricted -f "$T/k_dest"
ssh-keygen -q -t ed25519 -N '' -C user-elsewhere -f "$T/k_other"
ssh-keygen -q -t ed25519 -N '' -f "$T/otherhost"
mkdir -p "$T/sshd"
cat "$T/k_ed.pub" "$T/k_rsa.pub" "$T/k_dest.pub" "$T/k_other.pub" >"$T/sshd/authorized_keys"
kb_sshd_start "$T/sshd" "TrustedUserCAKeys $T/ca.pub" \
	"PubkeyAcceptedAlgorithms +ssh-rsa"

eval "$("$BROKER_AGENT" -s -a "$T/agent.sock")" >/dev/null
kb_cleanup_add "kill $SSH_AGENT_PID"
for k in k_ed k_rsa k_cert; do ssh-add "$T/$k" 2>/dev/null || kb_fail "ssh-add $k"; done
ssh-add -l | grep -q "ECDSA-CERT" || kb_fail "certificate not listed: $(ssh-add -l)"
# Only the public halves stay on disk: every signature comes from the agent.
for k in k_ed k_rsa k_cert k_dest k_other; do mv "$T/$k" "$T/$k.away"; done

login() { # KEYFILE [extra ssh options]
	local key=$1; shift
	kb_ssh -o IdentitiesOnly=yes -o IdentityFile="$key" "$@" "$me@127.0.0.1" echo logged-in 2>>"$T/ssh.err"
}
[ "$(login "$T/k_ed.pub")" = logged-in ] || kb_fail "ed25519 login: $(tail -3 "$T/ssh.err")"
[ "$(login "$T/k_rsa.pub" -o PubkeyAcceptedAlgorithms=rsa-sha2-512)" = logged-in ] || kb_fail "rsa-sha2-512 login"
[ "$(login "$T/k_rsa.pub" -o PubkeyAcceptedAlgorithms=rsa-sha2-256)" = logged-in ] || kb_fail "rsa-sha2-256 login"
grep -q "Accepted publickey for $me .* RSA SHA256:" "$SSHD_LOG" || kb_fail "sshd did not log the RSA login"
kb_pass "ssh login with agent keys (Ed25519, RSA sha2-256/512)"

[ "$(login "$T/k_cert.pub" -o CertificateFile="$T/k_cert-cert.pub")" = logged-in ] ||
	kb_fail "certificate login: $(tail -3 "$T/ssh.err")"
grep -q "Accepted publickey for $me .* ECDSA-CERT SHA256:.* ID kbtest-cert" "$SSHD_LOG" ||
	kb_fail "sshd did not accept the certificate: $(grep -i cert "$SSHD_LOG" | tail -3)"
kb_pass "ssh login with a certificate (ssh-keygen -s) held by the agent"

# Destination restrictions (ssh-add -h): k_dest may only be used for this
# sshd's host key, k_other only for another host.
echo "kbhost $(cat "$T/sshd/host_ed25519.pub")" >"$T/kh"
echo "otherhost $(cat "$T/otherhost.pub")" >>"$T/kh"
mv "$T/k_dest.away" "$T/k_dest"; mv "$T/k_other.away" "$T/k_other"
ssh-add -H "$T/kh" -h kbhost "$T/k_dest" 2>/dev/null || kb_fail "ssh-add -h kbhost"
ssh-add -H "$T/kh" -h otherhost "$T/k_other" 2>/dev/null || kb_fail "ssh-add -h otherhost"
mv "$T/k_dest" "$T/k_dest.away"; mv "$T/k_other" "$T/k_other.away"
rssh() {
	ssh -F /dev/null -p "$SSHD_PORT" -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$T/kh" \
		-o HostKeyAlias=kbhost -o KexAlgorithms=curve25519-sha256 -o IdentitiesOnly=yes "$@"
}
r=$(rssh -o IdentityFile="$T/k_dest.pub" "$me@127.0.0.1" echo restricted-ok 2>>"$T/ssh.err")
[ "$r" = restricted-ok ] || kb_fail "restricted key refused at its own destination: $(tail -3 "$T/ssh.err")"
rssh -o IdentityFile="$T/k_other.pub" "$me@127.0.0.1" true 2>/dev/null &&
	kb_fail "key restricted to otherhost logged into kbhost"
kb_pass "ssh-add -h: destination-restricted keys usable only where allowed"

# ssh-keygen -Y sign through the agent; ssh-keygen -Y verify checks it.
echo "payload $RANDOM" >"$T/msg"
ssh-keygen -Y sign -f "$T/k_ed.pub" -n file "$T/msg" 2>/dev/null || kb_fail "ssh-keygen -Y sign via agent"
echo "signer $(cat "$T/k_ed.pub")" >"$T/allowed"
ssh-keygen -Y verify -f "$T/allowed" -I signer -n file -s "$T/msg.sig" <"$T/msg" >/dev/null ||
	kb_fail "signature made through the agent does not verify"
echo tampered >>"$T/msg"
ssh-keygen -Y verify -f "$T/allowed" -I signer -n file -s "$T/msg.sig" <"$T/msg" >/dev/null 2>&1 &&
	kb_fail "tampered message verified"
kb_pass "ssh-keygen -Y sign through the agent"
