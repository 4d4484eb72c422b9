#!/usr/bin/env bash
# Stock ssh-add against broker-agent, compared line by line with the same
# session against stock ssh-agent: -l -L -d -D -t -c -x/-X, plus lifetimes
# that expire while nobody talks to the agent.
. "$KB_TESTLIB/common.sh"
kb_tmpdir T
cd "$T" || exit 1
for t in ed25519 ecdsa rsa; do ssh-keygen -q -t $t -N '' -C "key-$t" -f "$T/id_$t"; done
ssh-keygen -q -t ecdsa -b 384 -N '' -C "key-p384" -f "$T/id_p384"

session() { # prints a transcript of ssh-add runs
	ssh-add -l; echo "rc=$?"
	ssh-add -L; echo "rc=$?"
	ssh-add "$T/id_ed25519" "$T/id_ecdsa" "$T/id_rsa" "$T/id_p384" 2>&1; echo "rc=$?"
	ssh-add -l; echo "rc=$?"
	ssh-add -L; echo "rc=$?"
	ssh-add -d "$T/id_ecdsa" 2>&1; echo "rc=$?"
	ssh-add -d "$T/id_ecdsa" 2>&1; echo "rc=$?"
	ssh-add -l; echo "rc=$?"
	ssh-add -D 2>&1; echo "rc=$?"
	ssh-add -l; echo "rc=$?"
}
run_with() { # AGENTBIN
	eval "$("$1" -s -a "$T/$2.sock")" >/dev/null
	kb_cleanup_add "kill $SSH_AGENT_PID"
	session >"$T/$2.out" 2>&1
	kill "$SSH_AGENT_PID"
}
run_with "$BROKER_AGENT" broker
run_with ssh-agent stock
sed -i "s#$T/[a-z]*\.sock##g" "$T/broker.out" "$T/stock.out"
diff -u "$T/stock.out" "$T/broker.out" || kb_fail "ssh-add session differs from stock ssh-agent"
grep -q "^256 SHA256:.* key-ed25519 (ED25519)$" "$T/broker.out" || kb_fail "listing looks wrong"
kb_pass "ssh-add -l -L -d -D transcript identical to stock ssh-agent"

# Lifetimes expire while idle: watch the -d log, not a client request.
"$BROKER_AGENT" -d -a "$T/d.sock" >/dev/null 2>"$T/d.log" &
apid=$!
kb_cleanup_add "kill $apid"
export SSH_AUTH_SOCK=$T/d.sock
for _ in $(seq 50); do [ -S "$SSH_AUTH_SOCK" ] && break; sleep 0.1; done
ssh-add -t 4 "$T/id_ed25519" 2>/dev/null || kb_fail "ssh-add -t"
ssh-add "$T/id_ecdsa" 2>/dev/null || kb_fail "ssh-add"
[ "$(ssh-add -l | wc -l)" = 2 ] || kb_fail "two keys expected"
# Wait (reading only the log, never asking the agent) for the expiry.
for _ in $(seq 100); do grep -q "expired 1 identities" "$T/d.log" && break; sleep 0.1; done
grep -q "expired 1 identities" "$T/d.log" || kb_fail "the key did not expire while idle: $(tail -5 "$T/d.log")"
ssh-add -l | grep -q key-ed25519 && kb_fail "expired key still listed"
ssh-add -l | grep -q key-ecdsa || kb_fail "unconstrained key lost"
kb_pass "ssh-add -t: key removed at its lifetime with no client activity"

# -x / -X: lock and unlock (passphrase through askpass).
printf '#!/bin/sh\necho sesame\n' >"$T/pw.sh"; chmod +x "$T/pw.sh"
printf '#!/bin/sh\necho wrong\n' >"$T/badpw.sh"; chmod +x "$T/badpw.sh"
SSH_ASKPASS=$T/pw.sh SSH_ASKPASS_REQUIRE=force ssh-add -x </dev/null 2>/dev/null || kb_fail "ssh-add -x"
ssh-add -l >/dev/null; [ $? -eq 1 ] || kb_fail "locked agent still lists keys"
SSH_ASKPASS=$T/badpw.sh SSH_ASKPASS_REQUIRE=force ssh-add -X </dev/null 2>/dev/null && kb_fail "unlocked with a wrong passphrase"
SSH_ASKPASS=$T/pw.sh SSH_ASKPASS_REQUIRE=force ssh-add -X </dev/null 2>/dev/null || kb_fail "ssh-add -X"
ssh-add -l | grep -q key-ecdsa || kb_fail "keys not back after unlock"
kb_pass "ssh-add -x / -X"

# -c: every use asks $SSH_ASKPASS with SSH_ASKPASS_PROMPT=confirm.
kill $apid
cat >"$T/confirm.sh" <<EOS
#!/bin/sh
echo "prompt=\$SSH_ASKPASS_PROMPT arg=\$1" >>"$T/asked"
[ -e "$T/allow" ]
EOS
chmod +x "$T/confirm.sh"
SSH_ASKPASS=$T/confirm.sh "$BROKER_AGENT" -D -a "$T/c.sock" >/dev/null 2>&1 &
cpid=$!
kb_cleanup_add "kill $cpid"
export SSH_AUTH_SOCK=$T/c.sock
for _ in $(seq 50); do [ -S "$SSH_AUTH_SOCK" ] && break; sleep 0.1; done
ssh-add -c "$T/id_ed25519" 2>/dev/null || kb_fail "ssh-add -c"
mv "$T/id_ed25519" "$T/id_ed25519.away"
echo data >"$T/data"
ssh-keygen -Y sign -f "$T/id_ed25519.pub" -n test "$T/data" 2>/dev/null && kb_fail "refused confirmation still signed"
grep -q "prompt=confirm arg=Allow use of key key-ed25519?" "$T/asked" || kb_fail "askpass not asked as OpenSSH does: $(cat "$T/asked")"
touch "$T/allow"
ssh-keygen -Y sign -f "$T/id_ed25519.pub" -n test "$T/data" 2>/dev/null || kb_fail "confirmed use did not sign"
[ "$(grep -c prompt=confirm "$T/asked")" = 2 ] || kb_fail "expected two confirmations"
kb_pass "ssh-add -c: confirmation through SSH_ASKPASS"

# A certificate is never kept past its valid_before, whatever lifetime was
# asked; its plain key stays for the lifetime asked.
kill $cpid
ssh-keygen -q -t ed25519 -N '' -C ca -f "$T/ca"
ssh-keygen -q -t ed25519 -N '' -C short-cert -f "$T/kcert"
ssh-keygen -q -s "$T/ca" -I short -n someone -V -1m:+8s "$T/kcert.pub" || kb_fail "ssh-keygen -s"
"$BROKER_AGENT" -d -a "$T/e.sock" >/dev/null 2>"$T/e.log" &
epid=$!
kb_cleanup_add "kill $epid"
export SSH_AUTH_SOCK=$T/e.sock
for _ in $(seq 50); do [ -S "$SSH_AUTH_SOCK" ] && break; sleep 0.1; done
ssh-add -t 600 "$T/kcert" 2>/dev/null || kb_fail "ssh-add key with certificate"
ssh-add -l | grep -q "ED25519-CERT" || kb_fail "certificate not loaded"
for _ in $(seq 200); do grep -q "expired 1 identities" "$T/e.log" && break; sleep 0.1; done
grep -q "expired 1 identities" "$T/e.log" || kb_fail "certificate not expired while idle: $(tail -3 "$T/e.log")"
ssh-add -l | grep -q "ED25519-CERT" && kb_fail "certificate kept past valid_before"
ssh-add -l | grep -q "short-cert (ED25519)" || kb_fail "plain key should stay for its lifetime"
# An expired certificate is refused outright.
ssh-add "$T/kcert" 2>&1 | grep -qi "Certificate .* add failed" || kb_fail "expired certificate accepted"
kb_pass "certificate removed at valid_before despite a longer lifetime; expired one refused"
