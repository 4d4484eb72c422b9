#!/usr/bin/env bash
# broker issue end to end with real OpenSSH, local backend:
# CA from `broker ca show` trusted by a real sshd; certificates loaded into
# a stock ssh-agent and into broker-agent; login as an allowed principal,
# refusal as another; after the TTL the key is gone from the agent and a
# saved copy is refused; denied requests store nothing and are audited.
. "$KB_TESTLIB/common.sh"
. "$(dirname "$0")/lib.sh"

kb_tmpdir D
issue_setup "$D"
issue_sshd "$D"
grep -q '^ssh-ed25519 ' "$D/ca.pub" || kb_fail "ca show: $(cat "$D/ca.pub")"
# init again: never overwritten
"$BROKER" ca init >"$D/ca3.pub" 2>"$D/err" || kb_fail "second ca init failed"
grep -q "left unchanged" "$D/err" || kb_fail "second ca init did not say it left the CA alone"
cmp -s "$D/ca.pub" "$D/ca3.pub" || kb_fail "second ca init changed the CA"
kb_pass "ca init / show"

login() { # agent-socket, extra ssh options...
	local sock=$1
	shift
	SSH_AUTH_SOCK=$sock kb_ssh -o IdentitiesOnly=no -o IdentityFile=/dev/null "$@" "$ME@127.0.0.1" true
}

# ---- stock ssh-agent ----
ssh-agent -a "$D/ssh-agent.sock" -s >"$D/ssh-agent.env" || kb_fail "ssh-agent"
SA_PID=$(sed -n 's/SSH_AGENT_PID=\([0-9]*\);.*/\1/p' "$D/ssh-agent.env")
kb_cleanup_add "kill $SA_PID"
SA=$D/ssh-agent.sock

"$BROKER" --json issue --role deploy --principal deploy --ttl 8s --agent "$SA" --out "$D/saved" >"$D/i1.json" ||
	kb_fail "issue into ssh-agent"
[ "$(issue_json "$D/i1.json" 'j["agent_lifetime"] <= 8 and j["agent_lifetime"] >= 6')" = True ] ||
	kb_fail "agent lifetime is not the remaining validity: $(cat "$D/i1.json")"
[ "$(issue_json "$D/i1.json" 'j["secret"]')" = "keybroker/deploy/$ME" ] || kb_fail "secret name"
SSH_AUTH_SOCK=$SA ssh-add -l | grep -q "ED25519-CERT" || kb_fail "no certificate in ssh-agent"
[ "$(stat -c %a "$D/saved")" = 600 ] || kb_fail "--out private key is not 0600"
ssh-keygen -L -f "$D/saved-cert.pub" | grep -q "Key ID: \"$ME@deploy#" || kb_fail "saved certificate key id"
ssh-keygen -L -f "$D/saved-cert.pub" | grep -A2 Principals | grep -q deploy || kb_fail "saved certificate principals"
login "$SA" || kb_fail "login with the certificate in ssh-agent failed: $(tail -5 "$SSHD_LOG")"
kb_pass "ssh-agent: login as allowed principal"
# The saved copy works on its own too (before expiry).
kb_ssh -o IdentitiesOnly=yes -i "$D/saved" "$ME@127.0.0.1" true || kb_fail "saved copy refused before expiry"

# A certificate for another principal (ubuntu) replaces it and is refused.
"$BROKER" issue --role deploy --principal ubuntu --ttl 8s --agent "$SA" >"$D/i2.txt" || kb_fail "issue ubuntu"
[ "$(SSH_AUTH_SOCK=$SA ssh-add -l | grep -c CERT)" = 1 ] || kb_fail "old identity was not replaced"
if login "$SA" 2>/dev/null; then kb_fail "login with a principal sshd does not accept succeeded"; fi
kb_pass "ssh-agent: refused as another principal"

# After the TTL: gone from the agent; the saved copy is refused.
sleep 9
SSH_AUTH_SOCK=$SA ssh-add -l 2>&1 | grep -q "no identities" || kb_fail "key still in ssh-agent after its lifetime"
if kb_ssh -o IdentitiesOnly=yes -i "$D/saved" "$ME@127.0.0.1" true 2>/dev/null; then
	kb_fail "expired saved certificate was accepted"
fi
grep -qi "expired\|not yet valid\|invalid certificate\|Certificate invalid" "$SSHD_LOG" ||
	kb_fail "sshd log does not mention the expired certificate: $(tail -5 "$SSHD_LOG")"
kb_pass "expiry: agent empty, saved copy refused"

# ---- broker-agent ----
if [ -n "${BROKER_AGENT:-}" ] && [ -x "$BROKER_AGENT" ]; then
	"$BROKER_AGENT" -a "$D/ba.sock" -s >"$D/ba.env" || kb_fail "broker-agent"
	BA_PID=$(sed -n 's/SSH_AGENT_PID=\([0-9]*\);.*/\1/p' "$D/ba.env")
	kb_cleanup_add "kill $BA_PID"
	BA=$D/ba.sock
	"$BROKER" --json issue --role deploy --principal deploy --ttl 10m --agent "$BA" >"$D/b1.json" ||
		kb_fail "issue into broker-agent"
	login "$BA" || kb_fail "login via broker-agent failed"
	"$BROKER" --json issue --role deploy --principal deploy --ttl 10m --agent "$BA" >"$D/b2.json" ||
		kb_fail "second issue into broker-agent"
	[ "$(issue_json "$D/b2.json" 'j["agent_replaced"]')" = True ] || kb_fail "broker-agent: not replaced"
	[ "$(SSH_AUTH_SOCK=$BA ssh-add -l | grep -c CERT)" = 1 ] || kb_fail "broker-agent holds more than one cert"
	SSH_AUTH_SOCK=$BA ssh-add -l | grep -q "$(issue_json "$D/b2.json" 'j["fingerprint"]')" ||
		kb_fail "broker-agent does not hold the new certificate"
	login "$BA" || kb_fail "login via broker-agent after replace failed"
	kb_pass "broker-agent: load, atomic replace, login"
else
	echo "# broker-agent not built: skipped its part"
fi

# ---- denied requests ----
VERS=$("$BROKER" --json store describe "keybroker/deploy/$ME" 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["versions"]))' 2>/dev/null || echo "?")
LINES=$(wc -l <"$D/audit/audit.log")
set +e
"$BROKER" issue --role deploy --principal root --no-agent >"$D/d.out" 2>"$D/d.err"
rc=$?
set -e
[ $rc = 3 ] || kb_fail "denied request exit status $rc, expected 3"
grep -q "role deploy does not allow principal root; allowed: deploy, ubuntu" "$D/d.err" ||
	kb_fail "denied message: $(cat "$D/d.err")"
[ ! -s "$D/d.out" ] || kb_fail "denied request printed a credential"
VERS2=$("$BROKER" --json store describe "keybroker/deploy/$ME" 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["versions"]))' 2>/dev/null || echo "?")
[ "$VERS" != "?" ] || kb_fail "cannot describe keybroker/deploy/$ME"
[ "$VERS" = "$VERS2" ] || kb_fail "denied request stored something ($VERS -> $VERS2 versions)"
[ "$(wc -l <"$D/audit/audit.log")" = $((LINES + 1)) ] || kb_fail "denied request did not add one audit line"
tail -1 "$D/audit/audit.log" | grep -q '"decision":"deny"' || kb_fail "no deny line in the audit log"
if tail -1 "$D/audit/audit.log" | grep -q "PRIVATE KEY"; then kb_fail "private key in audit log"; fi
if grep -q "PRIVATE KEY" "$D/audit/audit.log"; then kb_fail "private key in audit log"; fi
# TTL beyond max and unknown role
set +e
"$BROKER" issue --role deploy --ttl 3h --no-agent 2>"$D/d2.err"; rc1=$?
"$BROKER" issue --role nosuch --no-agent 2>"$D/d3.err"; rc2=$?
set -e
[ $rc1 = 3 ] && grep -q "at most 1h" "$D/d2.err" || kb_fail "ttl over max: $rc1 $(cat "$D/d2.err")"
[ $rc2 = 3 ] && grep -q "roles you may use: deploy, personal" "$D/d3.err" || kb_fail "unknown role: $rc2 $(cat "$D/d3.err")"
kb_pass "denied: exit 3, clear message, nothing stored, audited"

# ---- audit log: nothing handed out when the entry cannot be written ----
# (a log whose last line is cut off refuses appends; works as root too)
printf '{"seq":1' >"$D/broken.log"
N_BEFORE=$(ls "$D/store" | wc -l)
set +e
BROKER_AUDIT_LOG=$D/broken.log "$BROKER" issue --role deploy --agent "$SA" >"$D/a.out" 2>"$D/a.err"; rc=$?
set -e
[ $rc != 0 ] || kb_fail "issue succeeded although its audit line could not be written"
grep -q "audit" "$D/a.err" || kb_fail "audit failure message: $(cat "$D/a.err")"
[ ! -s "$D/a.out" ] || kb_fail "audit failure still printed a credential"
SSH_AUTH_SOCK=$SA ssh-add -l 2>&1 | grep -q "no identities" || kb_fail "key left in the agent after audit failure"
CUR=$("$BROKER" store get "keybroker/deploy/$ME" --field key_id 2>/dev/null)
[ -n "$CUR" ] || kb_fail "cannot read the current credential's key_id"
grep -q "$CUR" "$D/audit/audit.log" || kb_fail "current credential $CUR was never audited"
kb_pass "audit failure: nothing handed out, agent cleaned, current credential unchanged"
"$BROKER" audit verify >"$D/v.out" || kb_fail "audit verify on the real log: $(cat "$D/v.out")"
kb_pass "audit log verifies"
