#!/usr/bin/env bash
# Renewal without a gap: real ssh logins to a real sshd (user certificates
# from a CA made by ssh-keygen) through broker-agent, while the certificate
# is replaced every ~100 ms with replace-identity@keybroker (as broker exec
# renews).  ssh lists identities, asks sshd, then signs the blob it listed;
# a replace in between must not fail the login (the replaced identity keeps
# signing for its exact blob during its grace period).  Then ssh-add -d, -x
# and -D end that grace.
#
# RENEW_LOGINS (default 100) sets the number of logins.  With
# KB_TEST_REPLACE_GRACE_MS=0 in the environment the agent drops replaced
# identities at once (the behaviour before the grace): the script then only
# reports how many logins failed.
. "$KB_TESTLIB/common.sh"
kb_tmpdir T
me=$(id -un)
logins=${RENEW_LOGINS:-100}
nkeys=8
ssh-keygen -q -t ed25519 -N '' -C ca -f "$T/ca"
keys=()
for i in $(seq 0 $((nkeys - 1))); do
	ssh-keygen -q -t ed25519 -N '' -C "renew-$i" -f "$T/k$i"
	ssh-keygen -q -s "$T/ca" -I "kbrenew-$i" -n "$me" -V -5m:+1h "$T/k$i.pub" || kb_fail "ssh-keygen -s"
	keys+=("$T/k$i")
done
mkdir -p "$T/sshd"
: >"$T/sshd/authorized_keys"
kb_sshd_start "$T/sshd" "TrustedUserCAKeys $T/ca.pub" "MaxStartups 100:30:200"

sock=$T/agent.sock
"$BROKER_AGENT" -d -a "$sock" >"$T/agent.out" 2>"$T/agent.log" &
agent_pid=$!
kb_cleanup_add "kill $agent_pid"
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || kb_fail "broker-agent did not start: $(cat "$T/agent.log")"
export SSH_AUTH_SOCK=$sock
# refused SOCK KEY: the agent answered FAILURE to a sign request (exit 1;
# 2 would be an error of the driver itself).
refused() {
	local rc=0
	"$AGENT_RENEWER" sign "$1" "$2" || rc=$?
	[ "$rc" -eq 1 ]
}

"$AGENT_RENEWER" loop "$sock" "$T/stop" 100 "${keys[@]}" >"$T/renewer.out" 2>"$T/renewer.err" &
renewer_pid=$!
kb_cleanup_add "kill $renewer_pid 2>/dev/null"
for _ in $(seq 50); do grep -q ready "$T/renewer.out" && break; sleep 0.1; done
grep -q ready "$T/renewer.out" || kb_fail "renewer did not start: $(cat "$T/renewer.err")"

failed=0
for i in $(seq "$logins"); do
	out=$(kb_ssh -o IdentityFile=/dev/null "$me@127.0.0.1" echo "login-$i" 2>>"$T/ssh.err")
	if [ "$out" != "login-$i" ]; then
		failed=$((failed + 1))
		echo "login $i failed" >>"$T/ssh.err"
	fi
done
touch "$T/stop"
wait "$renewer_pid" || kb_fail "renewer: $(cat "$T/renewer.out" "$T/renewer.err")"
replaces=$(sed -n 's/^replaces \([0-9]*\).*/\1/p' "$T/renewer.out")
refused=$(grep -c "agent refused operation" "$T/ssh.err")
retired=$(grep -c "signing with a replaced identity" "$T/agent.log")
accepted=$(grep -c "Accepted publickey for $me .* ID kbrenew-" "$SSHD_LOG")
echo "# logins $logins, failed $failed (\"agent refused operation\": $refused), replaces $replaces," \
	"signatures by replaced identities $retired, accepted by sshd $accepted" \
	"(grace ${KB_TEST_REPLACE_GRACE_MS:-default})"
if [ -n "${KB_TEST_REPLACE_GRACE_MS:-}" ]; then
	exit 0
fi
[ "$failed" -eq 0 ] || kb_fail "$failed of $logins logins failed during renewal: $(grep -v '^login' "$T/ssh.err" | sort | uniq -c | head -5)"
[ "$accepted" -eq "$logins" ] || kb_fail "sshd accepted $accepted certificate logins, expected $logins"
[ "${replaces:-0}" -ge 10 ] || kb_fail "only ${replaces:-0} replaces happened during the logins"
kb_pass "$logins ssh logins while the certificate was replaced $replaces times: none failed ($retired signed by a replaced identity)"

# Only the newest identity is listed; older ones still sign (in the grace).
[ "$(ssh-add -l | wc -l)" -eq 1 ] || kb_fail "more than one identity listed: $(ssh-add -l)"
cur=$(ssh-add -L | awk '{print $2}')
old=()
for k in "${keys[@]}"; do
	[ "$(awk '{print $2}' "$k-cert.pub")" = "$cur" ] || old+=("$k")
done
[ "${#old[@]}" -eq $((nkeys - 1)) ] || kb_fail "current certificate not among the test keys"
for k in "${old[@]}"; do
	"$AGENT_RENEWER" sign "$sock" "$k" || kb_fail "replaced identity $k did not sign in its grace (rc $?)"
done
kb_pass "replaced identities are not listed but sign (verified) within the grace"

# ssh-add -d with an old key file (its certificate is next to it) ends its
# grace, and only its own.
ssh-add -d "${old[0]}" >>"$T/ssh-add.out" 2>&1 || kb_fail "ssh-add -d of a replaced identity: $(cat "$T/ssh-add.out")"
refused "$sock" "${old[0]}" || kb_fail "ssh-add -d: the replaced identity still signs"
"$AGENT_RENEWER" sign "$sock" "${old[1]}" || kb_fail "ssh-add -d removed another replaced identity"
[ "$(ssh-add -l | wc -l)" -eq 1 ] || kb_fail "ssh-add -d of a replaced identity removed the current one"
kb_pass "ssh-add -d removes a replaced identity"

# ssh-add -x / -X: locked means refused, and unlocking does not bring the
# replaced identities back; the current one is back.
printf '#!/bin/sh\necho sesame\n' >"$T/pw.sh"
chmod 700 "$T/pw.sh"
SSH_ASKPASS=$T/pw.sh SSH_ASKPASS_REQUIRE=force ssh-add -x </dev/null 2>/dev/null || kb_fail "ssh-add -x"
refused "$sock" "${old[1]}" || kb_fail "locked agent signed with a replaced identity"
SSH_ASKPASS=$T/pw.sh SSH_ASKPASS_REQUIRE=force ssh-add -X </dev/null 2>/dev/null || kb_fail "ssh-add -X"
refused "$sock" "${old[1]}" || kb_fail "a replaced identity signs again after ssh-add -X"
[ "$(ssh-add -l | wc -l)" -eq 1 ] || kb_fail "the current identity is gone after -x/-X"
kb_pass "ssh-add -x drops replaced identities"

# ssh-add -D: one more add and replace, then everything goes, replaced ones
# too.
"$AGENT_RENEWER" add "$sock" "${old[2]}" || kb_fail "add ${old[2]}"
"$AGENT_RENEWER" replace "$sock" "${old[2]}" "${old[3]}" || kb_fail "replace ${old[2]}"
n=0
for k in "${old[2]}" "${old[3]}"; do "$AGENT_RENEWER" sign "$sock" "$k" && n=$((n + 1)); done
[ "$n" -eq 2 ] || kb_fail "before ssh-add -D: $n of 2 identities sign"
ssh-add -D >/dev/null 2>&1 || kb_fail "ssh-add -D"
for k in "${keys[@]}"; do
	refused "$sock" "$k" || kb_fail "after ssh-add -D, $k still signs"
done
kb_pass "ssh-add -D removes replaced identities too"

# The grace ends on time in the real agent, and the reaper wakes for it
# (no request needed): a second agent with a 1.5 s grace.
sock2=$T/agent2.sock
KB_TEST_REPLACE_GRACE_MS=1500 "$BROKER_AGENT" -d -a "$sock2" >/dev/null 2>"$T/agent2.log" &
a2=$!
kb_cleanup_add "kill $a2"
for _ in $(seq 50); do [ -S "$sock2" ] && break; sleep 0.1; done
"$AGENT_RENEWER" add "$sock2" "${keys[0]}" || kb_fail "add to the second agent"
"$AGENT_RENEWER" replace "$sock2" "${keys[0]}" "${keys[1]}" || kb_fail "replace in the second agent"
"$AGENT_RENEWER" sign "$sock2" "${keys[0]}" || kb_fail "replaced identity refused within a 1.5 s grace"
for _ in $(seq 40); do grep -q "expired 1 identities" "$T/agent2.log" && break; sleep 0.1; done
grep -q "expired 1 identities" "$T/agent2.log" || kb_fail "the reaper did not drop the replaced identity"
refused "$sock2" "${keys[0]}" || kb_fail "replaced identity still signs after its grace"
"$AGENT_RENEWER" sign "$sock2" "${keys[1]}" || kb_fail "current identity refused"
kb_pass "the grace ends on time; the reaper drops the replaced identity by itself"
