#!/bin/bash
# Faults between the broker and Vault (tests/lib/faultproxy.py in front of
# the Vault emulator): 5xx, 429, reset connections before and after the
# backend did the work, delays past the deadline, hangs.  Each operation
# either succeeds after retries or fails cleanly: no stage moved, no
# version lost or duplicated, the current value still readable.
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/vault/lib.sh"
kb_tmpdir T
vault_emulator_start "$T"
EMU=$VAULT_ADDR
python3 "$KB_TESTLIB/faultproxy.py" --upstream "$EMU" --port-file "$T/proxy.port" 2>"$T/proxy.log" &
kb_cleanup_add "kill $!"
for ((i = 0; i < 200; i++)); do [ -s "$T/proxy.port" ] && break; sleep 0.05; done
[ -s "$T/proxy.port" ] || kb_fail "faultproxy did not start: $(cat "$T/proxy.log")"
PROXY=http://127.0.0.1:$(cat "$T/proxy.port")
export BROKER_BACKEND=vault VAULT_ADDR=$PROXY
unset BROKER_CONFIG
N=keybroker/fault/key
plan() { curl -sS -X POST --data-binary "$1" "$PROXY/__faultproxy/plan" >/dev/null || kb_fail "plan $1"; }
b() { "$BROKER" "$@"; }
put() { printf '%s' "$2" | b --json store put "$1" --from-file - "${@:3}"; }
cur() { b store get $N --stage current 2>/dev/null; }
vcount() { VAULT_ADDR=$EMU vapi GET secret/metadata/$N | jget 'd["data"]["current_version"]'; }
stages() { b --json store describe $N | jget '";".join(sorted(v["version"]+":"+",".join(v["stages"]) for v in d["versions"] if v["stages"]))'; }

put $N one >/dev/null || kb_fail "setup"
put $N two >/dev/null || kb_fail "setup"

plan '503*2,429*1'
[ "$(cur)" = two ] || kb_fail "get through 503, 503, 429"
plan 'POST /v1/secret/data=500*2'
put $N three >/dev/null || kb_fail "put through two 500s"
[ "$(cur)" = three ] && [ "$(vcount)" = 3 ] || kb_fail "put through 500s: $(cur) $(vcount)"
kb_pass "5xx and 429 retried until success"

plan 'POST /v1/secret/data=reset-after'
v=$(put $N four | jget 'd["version"]') || kb_fail "put with its answer lost"
[ "$v" = 4 ] && [ "$(vcount)" = 4 ] && [ "$(cur)" = four ] || kb_fail "lost answer: version $v, $(vcount) versions"
plan 'POST /v1/secret/data=reset'
put $N five >/dev/null && [ "$(vcount)" = 5 ] || kb_fail "put through a reset before forwarding"
plan 'POST /v1/secret/data=reset-after'
b store promote $N 4 || kb_fail "promote with its answer lost"
[ "$(stages)" = "4:current;5:previous" ] ||
	kb_fail "after promote: $(stages)"
[ "$(vcount)" = 6 ] || kb_fail "a retried promote wrote twice ($(vcount) versions)"
kb_pass "reset before and after the backend acted: done exactly once"

before=$(stages)
plan 'POST /v1/secret/data=500*0'
VAULT_MAX_RETRIES=2 put $N six >/dev/null 2>"$T/err" && kb_fail "put succeeded through permanent 500s"
grep -q 'Vault answered 500' "$T/err" || kb_fail "message: $(cat "$T/err")"
VAULT_MAX_RETRIES=2 b store promote $N 5 2>/dev/null && kb_fail "promote succeeded through permanent 500s"
plan ''
[ "$(stages)" = "$before" ] && [ "$(cur)" = four ] && [ "$(vcount)" = 6 ] || kb_fail "state changed: $(stages)"
kb_pass "permanent 5xx: clean failure, stages and versions unchanged"

plan 'POST /v1/secret/data=hang'
start=$SECONDS
VAULT_CLIENT_TIMEOUT=2 b store promote $N 5 2>"$T/err" && kb_fail "promote succeeded through a hang"
((SECONDS - start <= 6)) || kb_fail "a hang took $((SECONDS - start)) s with a 2 s deadline"
grep -q 'no answer from Vault' "$T/err" || kb_fail "message: $(cat "$T/err")"
plan ''
[ "$(stages)" = "$before" ] && [ "$(cur)" = four ] || kb_fail "a hung promote moved a stage: $(stages)"
plan 'GET /v1/secret/data=delay:3000*0'
VAULT_CLIENT_TIMEOUT=1 b store get $N 2>"$T/err" >/dev/null && kb_fail "get succeeded past its deadline"
grep -q 'no answer from Vault' "$T/err" || kb_fail "message: $(cat "$T/err")"
plan ''
[ "$(cur)" = four ] || kb_fail "current not readable after the delays"
kb_pass "hangs and delays past the deadline: clean failure in time, nothing moved"

# The custom_metadata mirror is advisory: its failure does not fail a put.
plan 'POST /v1/secret/metadata=500*0'
VAULT_MAX_RETRIES=0 put $N seven >/dev/null 2>"$T/err" || kb_fail "put failed because the mirror failed"
grep -q 'stage mirror' "$T/err" || kb_fail "no warning about the mirror: $(cat "$T/err")"
plan ''
[ "$(cur)" = seven ] || kb_fail "put with a failed mirror"
kb_pass "a failed custom_metadata mirror warns but does not fail the write"
