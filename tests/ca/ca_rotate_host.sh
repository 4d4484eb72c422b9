#!/usr/bin/env bash
# Host CA rotation with real OpenSSH: the client's known_hosts is
# 'broker ca show --bundle --host' (@cert-authority lines), redistributed
# after every step; sshds present host certificates signed (by ssh-keygen,
# with the CA key read back from the backend) by the old and the new CA.
. "$KB_TESTLIB/common.sh"
. "$(dirname "$0")/lib.sh"

TTL=3
kb_tmpdir D
carot_setup "$D" local "${TTL}s"
"$BROKER" ca init --host >/dev/null 2>"$D/err" || kb_fail "ca init --host: $(cat "$D/err")"
mkdir -p "$D/sshd/principals"
echo "$ME" >"$D/sshd/principals/$ME"

kh() { "$BROKER" ca show --bundle --host --hosts '[127.0.0.1]:*' >"$D/kh.new" && mv "$D/kh.new" "$D/known_hosts"; }
# sshd_with_cert NAME STAGE: an sshd whose host key is certified by the
# host CA version at STAGE; sets PORT_<NAME>.
sshd_with_cert() {
	local name=$1 stage=$2 dir=$D/sshd-$1
	mkdir -p "$dir"
	ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519" </dev/null
	"$BROKER" store get keybroker/ca/host --stage "$stage" --field private_key >"$dir/ca" ||
		kb_fail "store get host CA ($stage)"
	chmod 600 "$dir/ca"
	ssh-keygen -q -s "$dir/ca" -h -I "host-$name" -n 127.0.0.1 -V -1m:+1h "$dir/host_ed25519.pub" ||
		kb_fail "ssh-keygen -h with the broker's host CA"
	rm -f "$dir/ca"
	cp "$D/user.pub" "$dir/authorized_keys"
	kb_sshd_start "$dir" "HostCertificate $dir/host_ed25519-cert.pub"
	printf -v "PORT_$name" '%s' "$SSHD_PORT"
}
connect() { # PORT
	ssh -F /dev/null -p "$1" -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$D/known_hosts" \
		-o KexAlgorithms=curve25519-sha256 -o HostKeyAlgorithms=ssh-ed25519-cert-v01@openssh.com \
		-o ConnectTimeout=5 -o IdentitiesOnly=yes -o IdentityAgent=none -i "$D/user" "$ME@127.0.0.1" true
}

ssh-keygen -q -t ed25519 -N '' -f "$D/user" </dev/null
kh
[ "$(grep -c '^@cert-authority \[127.0.0.1\]:\* ssh-ed25519 ' "$D/known_hosts")" = 1 ] ||
	kb_fail "host bundle: $(cat "$D/known_hosts")"
sshd_with_cert old current
connect "$PORT_old" || kb_fail "host certificate of the host CA not accepted before rotation"
kb_pass "before rotation: the host CA's certificate is accepted"

"$BROKER" ca rotate --host >/dev/null 2>"$D/err" || kb_fail "ca rotate --host: $(cat "$D/err")"
kh
[ "$(grep -c '^@cert-authority' "$D/known_hosts")" = 2 ] || kb_fail "pending: host bundle should have 2 lines"
sshd_with_cert new pending
connect "$PORT_old" || kb_fail "old host certificate refused while a host CA is pending"
connect "$PORT_new" || kb_fail "a host certificate of the pending host CA is refused (the bundle trusts it)"
kb_pass "ca rotate --host: both host CAs trusted"

T0=$(date +%s)
"$BROKER" ca promote --host >/dev/null 2>"$D/err" || kb_fail "ca promote --host: $(cat "$D/err")"
kh
[ "$(grep -c '^@cert-authority' "$D/known_hosts")" = 2 ] || kb_fail "overlap: host bundle should have 2 lines"
connect "$PORT_old" && connect "$PORT_new" || kb_fail "overlap: a host certificate was refused"
kb_pass "overlap: old and new host certificates accepted"

while [ "$(date +%s)" -le $((T0 + TTL + 1)) ]; do sleep 0.5; done
kh
[ "$(grep -c '^@cert-authority' "$D/known_hosts")" = 1 ] || kb_fail "after the overlap: $(cat "$D/known_hosts")"
if connect "$PORT_old" 2>"$D/err"; then kb_fail "old-CA host certificate accepted after the overlap"; fi
grep -q "Host key verification failed" "$D/err" || kb_fail "refused for another reason: $(cat "$D/err")"
connect "$PORT_new" || kb_fail "new-CA host certificate refused after the overlap"
kb_pass "after the overlap: only the new host CA"
