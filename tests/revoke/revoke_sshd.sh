#!/usr/bin/env bash
# broker revoke + broker krl publish against a real sshd (RevokedKeys):
# a revoked, still-valid certificate is refused while another logs in;
# --serial, --key-id, --identity and --key forms; krl_version rises on
# every publish (also from a fresh file); revocation removes the identity
# from ssh-agent and broker-agent; audited (audit verify passes); bad input
# gives clear errors and changes nothing; revoking twice is idempotent.
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/issue/lib.sh"

kb_tmpdir D
issue_setup "$D"
KRL=$D/revoked.krl
"$BROKER" krl publish -f "$KRL" 2>"$D/err" || kb_fail "first publish: $(cat "$D/err")"
mkdir -p "$D/sshd"
echo deploy >"$D/sshd/principals"
kb_sshd_start "$D/sshd" "TrustedUserCAKeys $D/ca.pub" "RevokedKeys $KRL" \
	"AuthorizedPrincipalsFile $D/sshd/principals"

krl_version() { "$BROKER" --json krl inspect "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["krl_version"])'; }
login() { kb_ssh -o IdentitiesOnly=yes -i "$1" "$ME@127.0.0.1" true 2>/dev/null; }
issue() { # NAME
	"$BROKER" --json issue --role deploy --principal deploy --ttl 30m --name "$1" --no-agent --out "$D/$1" \
		>"$D/$1.json" 2>"$D/err" || kb_fail "issue $1: $(cat "$D/err")"
}
serial_of() { ssh-keygen -L -f "$D/$1-cert.pub" | sed -n 's/.*Serial: \([0-9]*\)/\1/p'; }
keyid_of() { ssh-keygen -L -f "$D/$1-cert.pub" | sed -n 's/.*Key ID: "\(.*\)"/\1/p'; }
publish() {
	local before after
	before=$(krl_version "$KRL")
	"$BROKER" krl publish -f "$KRL" 2>"$D/err" || kb_fail "publish: $(cat "$D/err")"
	after=$(krl_version "$KRL")
	[ "$after" -gt "$before" ] || kb_fail "krl_version did not increase: $before -> $after"
}
revoked_by_keygen() { # NAME: ssh-keygen -Q exits 1 when revoked
	local rc=0
	ssh-keygen -Q -f "$KRL" "$D/$1-cert.pub" >/dev/null 2>&1 || rc=$?
	[ "$rc" = 1 ]
}

for n in a1 a2 a3 a4 a5; do issue $n; done
for n in a1 a2 a3 a4 a5; do login "$D/$n" || kb_fail "$n does not log in before revocation: $(tail -3 "$SSHD_LOG")"; done
kb_pass "five certificates log in"

# ---- bad input: clear errors, nothing written ----
cp "$D/audit/audit.log" "$D/audit.before"
"$BROKER" store get keybroker/revocations >"$D/rev.before" || kb_fail "publish did not record krl_version"
expect_fail() { # CODE ARGS...
	local code=$1 rc=0
	shift
	"$BROKER" revoke "$@" >/dev/null 2>"$D/err" || rc=$?
	[ "$rc" = "$code" ] || kb_fail "revoke $*: exit $rc, wanted $code ($(cat "$D/err"))"
	[ "$(wc -l <"$D/err")" = 1 ] || kb_fail "revoke $*: not a one-line error: $(cat "$D/err")"
	grep -q '^broker: ' "$D/err" || kb_fail "revoke $*: error not prefixed: $(cat "$D/err")"
}
expect_fail 2
expect_fail 2 --serial 0
expect_fail 2 --serial abc
expect_fail 2 --serial 5 --key-id x
expect_fail 2 --bogus
expect_fail 4 --identity nosuch
expect_fail 2 --identity '../etc'
expect_fail 4 --key "$D/does-not-exist.pub"
echo "garbage" >"$D/bad.pub"
rc=0; "$BROKER" revoke --key "$D/bad.pub" 2>"$D/err" || rc=$?
[ "$rc" != 0 ] || kb_fail "revoke --key with a garbage file succeeded"
cmp -s "$D/audit/audit.log" "$D/audit.before" || kb_fail "bad input wrote to the audit log"
"$BROKER" store get keybroker/revocations >"$D/rev.after"
cmp -s "$D/rev.before" "$D/rev.after" || kb_fail "bad input changed keybroker/revocations"
kb_pass "bad input: clear one-line errors, exit codes, nothing written"

# ---- --serial ----
S1=$(serial_of a1)
"$BROKER" revoke --serial "$S1" --reason "laptop stolen" 2>"$D/err" || kb_fail "revoke --serial: $(cat "$D/err")"
login "$D/a1" || kb_fail "a1 refused before the KRL was published"
publish
revoked_by_keygen a1 || kb_fail "ssh-keygen -Q does not report a1 revoked"
revoked_by_keygen a2 && kb_fail "ssh-keygen -Q reports a2 revoked"
login "$D/a1" && kb_fail "revoked (still valid) certificate a1 was accepted by sshd"
grep -qi "revoked" "$SSHD_LOG" || kb_fail "sshd log does not mention revocation: $(tail -3 "$SSHD_LOG")"
login "$D/a2" || kb_fail "a2 refused after a1 was revoked"
kb_pass "--serial: revoked certificate refused by sshd, ssh-keygen -Q agrees, others log in"

# idempotent
"$BROKER" --json revoke --serial "$S1" >"$D/again.json" 2>"$D/err" || kb_fail "second revoke: $(cat "$D/err")"
[ "$(issue_json "$D/again.json" 'j["revoked"][0]["already_revoked"]')" = True ] || kb_fail "second revoke not idempotent"
"$BROKER" store get keybroker/revocations >"$D/rev.json" || kb_fail "store get revocations"
[ "$(issue_json "$D/rev.json" 'len(j["entries"])')" = 1 ] || kb_fail "second revoke added an entry: $(cat "$D/rev.json")"
[ "$(issue_json "$D/rev.json" 'j["entries"][0]["reason"]')" = "laptop stolen" ] || kb_fail "reason not recorded"
[ "$(issue_json "$D/rev.json" 'j["entries"][0]["requester"]')" = "$ME" ] || kb_fail "requester not recorded"
kb_pass "revoking twice is idempotent; reason and requester recorded"

# ---- --key-id, --identity, --key ----
"$BROKER" revoke --key-id "$(keyid_of a2)" 2>"$D/err" || kb_fail "revoke --key-id: $(cat "$D/err")"
"$BROKER" revoke --identity deploy/a3 2>"$D/err" || kb_fail "revoke --identity: $(cat "$D/err")"
"$BROKER" revoke --key "$D/a4.pub" 2>"$D/err" || kb_fail "revoke --key: $(cat "$D/err")"
publish
for n in a2 a3 a4; do
	login "$D/$n" && kb_fail "$n accepted after revocation"
	revoked_by_keygen $n || kb_fail "ssh-keygen -Q does not report $n revoked"
done
login "$D/a5" || kb_fail "a5 refused although not revoked"
kb_pass "--key-id, --identity, --key: refused by sshd; a5 still logs in"

# A fresh file never goes backwards (the version is kept in the backend).
V=$(krl_version "$KRL")
rm -f "$D/fresh.krl"
"$BROKER" krl publish -f "$D/fresh.krl" 2>"$D/err" || kb_fail "publish fresh: $(cat "$D/err")"
[ "$(krl_version "$D/fresh.krl")" -gt "$V" ] || kb_fail "fresh KRL version went backwards"
"$BROKER" --json krl publish -f "$KRL" >"$D/pub.json" || kb_fail "publish --json"
[ "$(issue_json "$D/pub.json" 'j["entries"]')" = 4 ] || kb_fail "publish --json: $(cat "$D/pub.json")"
kb_pass "krl_version increases on every publish, also from a fresh file"

# ---- agents ----
ssh-agent -a "$D/sa.sock" -s >"$D/sa.env" || kb_fail "ssh-agent"
SA_PID=$(sed -n 's/SSH_AGENT_PID=\([0-9]*\);.*/\1/p' "$D/sa.env")
kb_cleanup_add "kill $SA_PID"
"$BROKER" issue --role deploy --principal deploy --ttl 30m --name b1 --agent "$D/sa.sock" >/dev/null 2>&1 ||
	kb_fail "issue into ssh-agent"
"$BROKER" issue --role deploy --principal deploy --ttl 30m --name b2 --agent "$D/sa.sock" >/dev/null 2>&1 ||
	kb_fail "issue b2 into ssh-agent"
[ "$(SSH_AUTH_SOCK=$D/sa.sock ssh-add -l | grep -c CERT)" = 2 ] || kb_fail "ssh-agent does not hold two certificates"
SSH_AUTH_SOCK=$D/sa.sock "$BROKER" --json revoke --identity b1 >"$D/r.json" 2>"$D/err" ||
	kb_fail "revoke b1: $(cat "$D/err")"
[ "$(issue_json "$D/r.json" 'j["agent_removed"]')" = 1 ] || kb_fail "agent_removed: $(cat "$D/r.json")"
[ "$(SSH_AUTH_SOCK=$D/sa.sock ssh-add -l | grep -c CERT)" = 1 ] || kb_fail "ssh-agent still holds the revoked certificate"
kb_pass "ssh-agent: the revoked identity is removed, the other stays"
if [ -n "${BROKER_AGENT:-}" ] && [ -x "$BROKER_AGENT" ]; then
	"$BROKER_AGENT" -a "$D/ba.sock" -s >"$D/ba.env" || kb_fail "broker-agent"
	BA_PID=$(sed -n 's/SSH_AGENT_PID=\([0-9]*\);.*/\1/p' "$D/ba.env")
	kb_cleanup_add "kill $BA_PID"
	"$BROKER" issue --role deploy --principal deploy --ttl 30m --name c1 --agent "$D/ba.sock" >/dev/null 2>&1 ||
		kb_fail "issue into broker-agent"
	SSH_AUTH_SOCK=$D/ba.sock ssh-add -l | grep -q CERT || kb_fail "broker-agent holds no certificate"
	SSH_AUTH_SOCK=$D/ba.sock "$BROKER" revoke --identity c1 2>"$D/err" || kb_fail "revoke c1: $(cat "$D/err")"
	SSH_AUTH_SOCK=$D/ba.sock ssh-add -l 2>&1 | grep -q CERT && kb_fail "broker-agent still holds the revoked certificate"
	kb_pass "broker-agent: the revoked identity is removed"
fi

# ---- audit ----
grep -c '"event":"revoke"' "$D/audit/audit.log" >"$D/n" || true
[ "$(cat "$D/n")" -ge 6 ] || kb_fail "revocations not audited: $(cat "$D/n") lines"
grep -q '"event":"krl-publish"' "$D/audit/audit.log" || kb_fail "publish not audited"
"$BROKER" audit verify "$D/audit/audit.log" >/dev/null 2>"$D/err" || kb_fail "audit verify: $(cat "$D/err")"
kb_pass "every revocation and publish audited; audit verify passes"

# ---- concurrent revokers lose nothing ----
for n in d1 d2 d3 d4 d5 d6; do issue $n; done
pids=()
for n in d1 d2 d3 d4 d5 d6; do
	"$BROKER" revoke --identity "$n" 2>"$D/err-$n" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || kb_fail "a concurrent revoke failed: $(cat "$D"/err-d*)"; done
"$BROKER" store get keybroker/revocations >"$D/rev.json"
for n in d1 d2 d3 d4 d5 d6; do
	[ "$(issue_json "$D/rev.json" "any(e.get('identity') == 'deploy/$n' for e in j['entries'])")" = True ] ||
		kb_fail "concurrent revocation of $n lost"
done
publish
for n in d1 d2 d3 d4 d5 d6; do revoked_by_keygen $n || kb_fail "$n not in the KRL"; done
kb_pass "six concurrent revokers: no entry lost"
