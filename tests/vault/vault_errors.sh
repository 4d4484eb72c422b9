#!/bin/bash
# Vault backend failures against the emulator: 403 (policy), 429 and 503
# (retried, then a clear message), sealed/unsealed, a lost answer to a
# write (no duplicate version), no credentials, unreachable Vault,
# oversized answers.  After each failure the stored state is unchanged.
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/vault/lib.sh"
kb_tmpdir T
vault_emulator_start "$T"
V=$VDRIVER
N=keybroker/web/alice
printf 'v1' >"$T/v1"
printf 'v2' >"$T/v2"
$V put $N "$T/v1" >/dev/null || kb_fail "setup put"
versions() { vapi GET secret/metadata/$N | jget 'd["data"]["current_version"]'; }
current_is() { [ "$($V get $N 2>/dev/null)" = "$1" ] || kb_fail "$2: current is not $1"; }
log_count() { # METHOD PATH-PREFIX: requests seen since the last clear
	curl -sS "$VAULT_CTL/emulator/log" |
		jget "sum(1 for r in d['requests'] if r['method']=='$1' and r['path'].startswith('/v1/$2'))"
}
clear_log() { curl -sS -X POST "$VAULT_CTL/emulator/clear-log"; }

# 403: a token whose policy can read but not write.
vapi PUT sys/policies/acl/reader '{"policy":"{\"path\":{\"secret/data/keybroker/*\":{\"capabilities\":[\"read\"]},\"secret/metadata/keybroker/*\":{\"capabilities\":[\"read\",\"list\"]}}}"}'
RO=$(vapi POST auth/token/create '{"policies":["reader"],"ttl":"1h"}' | jget 'd["auth"]["client_token"]')
[ "$(VAULT_TOKEN=$RO $V get $N 2>/dev/null)" = v1 ] || kb_fail "read-only token cannot read"
VAULT_TOKEN=$RO expect_fail 5 "Vault denied access to secret/data/$N: check the token in VAULT_TOKEN's policy" \
	$V put $N "$T/v2"
VAULT_TOKEN=$RO $V put $N "$T/v2" 2>&1 | grep -q "$RO" && kb_fail "the token appears in an error message"
VAULT_TOKEN=not-a-token expect_fail 5 'Vault denied access' $V get $N
current_is v1 "after 403"
# Tokens never reach the output, not even with debug logging.
vapi POST auth/token/create '{"id":"hvs.tok-SEKRIT-4711","policies":["root"],"ttl":"1h"}' >/dev/null
VAULT_TOKEN=hvs.tok-SEKRIT-4711 "$BROKER" -v -v -v --backend vault store get $N --stage current >"$T/o" 2>&1 ||
	kb_fail "get with a created token: $(cat "$T/o")"
grep -q 'secret/data' "$T/o" || kb_fail "no debug output to check"
grep -q 'SEKRIT' "$T/o" && kb_fail "the token appears in debug output"
VAULT_TOKEN=hvs.tok-SEKRIT-4711 "$BROKER" -v -v -v --backend vault store get $N/nope >"$T/o" 2>&1
grep -q 'SEKRIT' "$T/o" && kb_fail "the token appears in an error"
kb_pass "403: clear message naming the path and the token's policy, no token in output"

# 429: retried with backoff, then success; persistent 429 fails cleanly.
clear_log
vinject '{"status":429,"count":2,"path":"secret/data/"}'
[ "$($V get $N 2>/dev/null)" = v1 ] || kb_fail "get after two 429s"
[ "$(log_count GET secret/data/)" = 3 ] || kb_fail "429 was not retried twice"
vinject '{"status":429,"count":100,"path":"secret/data/","methods":["POST"]}'
VAULT_MAX_RETRIES=2 expect_fail 5 'Vault is rate limiting requests \(429 on secret/data/'"$N"', 3 attempts\)' \
	$V put $N "$T/v2"
curl -sS -X POST "$VAULT_CTL/emulator/reset-faults"
current_is v1 "after 429s"
[ "$(versions)" = 1 ] || kb_fail "a throttled put left a version"
kb_pass "429: retried, then a clear failure with nothing written"

# 503 sealed: a clear message within the deadline; retried while sealed
# and succeeds once Vault is unsealed.
vapi PUT sys/seal >/dev/null
[ "$(curl -s -o /dev/null -w '%{http_code}' "$VAULT_ADDR/v1/sys/health")" = 503 ] || kb_fail "health while sealed"
start=$SECONDS
VAULT_CLIENT_TIMEOUT=2 expect_fail 5 '^vault-driver: get: .*Vault is sealed: unseal it or wait' $V get $N
((SECONDS - start <= 5)) || kb_fail "sealed failure took $((SECONDS - start)) s with a 2 s deadline"
VAULT_CLIENT_TIMEOUT=1 expect_fail 5 '^broker: .*Vault is sealed: unseal it or wait' \
	"$BROKER" --backend vault store get $N --stage current
(sleep 1; vapi PUT sys/unseal '{"key":"unseal-key"}' >/dev/null) &
unsealer=$!
[ "$(VAULT_CLIENT_TIMEOUT=15 VAULT_MAX_RETRIES=20 $V get $N 2>/dev/null)" = v1 ] || kb_fail "get did not ride out the seal"
wait $unsealer
vinject '{"status":503,"count":1,"path":"secret/data/","methods":["POST"]}'
[ "$($V put $N "$T/v2")" = 2 ] || kb_fail "put after one 503"
kb_pass "503 sealed: clear message, retried until unsealed"

# A write whose answer is lost (the write happened, the client saw 502):
# the retry recognises its own write; no duplicate version.
vinject '{"status":502,"count":1,"path":"secret/data/","methods":["POST"],"after":true}'
printf 'v3' >"$T/v3"
[ "$($V put $N "$T/v3")" = 3 ] || kb_fail "put with a lost answer"
[ "$(versions)" = 3 ] || kb_fail "a lost answer made a duplicate version ($(versions))"
[ "$($V describe $N | tr '\n' ';')" = "1;2 previous;3 current;" ] || kb_fail "describe: $($V describe $N)"
vinject '{"status":500,"count":1,"path":"secret/data/","methods":["POST"],"after":true}'
$V promote $N 2 || kb_fail "promote with a lost answer"
[ "$($V describe $N | tr '\n' ';')" = "1;2 current;3 previous;" ] || kb_fail "after promote: $($V describe $N)"
kb_pass "lost answers: retried writes are recognised, not repeated"

# An answer above the size cap is refused before parsing.
vinject '{"count":1,"path":"secret/data/","body_bytes":1100000}'
expect_fail 1 'over 1048576 bytes' $V get $N
kb_pass "oversized answer refused"

# No credentials, unreachable Vault, plain http to another host.
mkdir -p "$T/home"
(unset VAULT_TOKEN; HOME=$T/home expect_fail 5 'no Vault token: set VAULT_TOKEN' $V get $N) || exit 1
vapi GET auth/token/lookup-self >/dev/null
printf '%s\n' root >"$T/home/.vault-token"
(unset VAULT_TOKEN; [ "$(HOME=$T/home $V get $N 2>/dev/null)" = v2 ]) || kb_fail "~/.vault-token not used"
port=$(kb_free_port)
start=$SECONDS
VAULT_ADDR=http://127.0.0.1:$port VAULT_CLIENT_TIMEOUT=2 expect_fail 5 "cannot reach Vault at http://127.0.0.1:$port" $V get $N
((SECONDS - start <= 5)) || kb_fail "unreachable Vault took $((SECONDS - start)) s"
VAULT_ADDR=http://vault.example.com:8200 expect_fail 1 'use https://' $V get $N
kb_pass "no token, ~/.vault-token, unreachable, plain http refused"
