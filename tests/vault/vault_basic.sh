#!/bin/bash
# Vault backend against the Vault API emulator: put/get/promote/describe/
# ls/rm, idempotency tokens, stage semantics, binary values, what plain
# Vault clients see, and secrets written by other Vault clients.
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/vault/lib.sh"
kb_tmpdir T
vault_emulator_start "$T"
V=$VDRIVER
N=keybroker/deploy/alice

printf '{"kind":"keybroker/ssh-credential/v1","private_key":"k1"}' >"$T/v1"
printf 'second value' >"$T/v2"
printf 'pending value' >"$T/v3"
head -c 3000 /dev/urandom >"$T/bin"

[ "$($V put $N "$T/v1")" = 1 ] || kb_fail "first put is not version 1"
$V get $N >"$T/out" 2>"$T/err" || kb_fail "get: $(cat "$T/err")"
cmp -s "$T/out" "$T/v1" || kb_fail "get returned another value"
grep -q '^version 1$' "$T/err" || kb_fail "get did not report version 1"
[ "$($V put $N "$T/v2")" = 2 ] || kb_fail "second put is not version 2"
$V get $N previous >"$T/out" 2>/dev/null && cmp -s "$T/out" "$T/v1" || kb_fail "previous is not v1"
[ "$($V put $N "$T/v3" pending)" = 3 ] || kb_fail "pending put is not version 3"
$V get $N >"$T/out" 2>/dev/null && cmp -s "$T/out" "$T/v2" || kb_fail "a pending put moved current"
$V get $N pending >"$T/out" 2>/dev/null && cmp -s "$T/out" "$T/v3" || kb_fail "pending is not v3"
[ "$($V describe $N | tr '\n' ';')" = "1 previous;2 current;3 pending;" ] || kb_fail "describe: $($V describe $N)"
kb_pass "put current/pending, get by stage, describe"

# What a plain Vault client sees: the newest version and the mirror.
vapi GET secret/data/$N | jget 'd["data"]["data"]["value"]' | grep -qx 'pending value' ||
	kb_fail "the Vault record does not hold the value as text"
vapi GET secret/metadata/$N >"$T/meta"
[ "$(jget 'd["data"]["custom_metadata"]["keybroker-current"]' <"$T/meta")" = 2 ] || kb_fail "mirror: $(cat "$T/meta")"
[ "$(jget 'd["data"]["cas_required"]' <"$T/meta")" = True ] || kb_fail "cas_required not set"

$V promote $N 3 || kb_fail "promote 3"
$V get $N >"$T/out" 2>/dev/null && cmp -s "$T/out" "$T/v3" || kb_fail "promote did not make v3 current"
[ "$($V describe $N | tr '\n' ';')" = "1;2 previous;3 current;" ] || kb_fail "after promote: $($V describe $N)"
# A plain `vault kv get` (newest version) now shows the current value.
vapi GET secret/data/$N | jget 'd["data"]["data"]["value"]' | grep -qx 'pending value' ||
	kb_fail "the stages record does not carry the current value"
$V promote $N 3 || kb_fail "promoting the current version is not a no-op"
n=$(vapi GET secret/metadata/$N | jget 'd["data"]["current_version"]')
[ "$n" = 4 ] || kb_fail "a no-op promote wrote a version (current_version $n)"
$V promote $N 1 && $V get $N 2>&1 >/dev/null | grep -q '^version 1$' || kb_fail "promote back to 1"
$V get $N 2 >"$T/out" 2>/dev/null && cmp -s "$T/out" "$T/v2" || kb_fail "get by version"
expect_fail 4 'has no version 4' $V get $N 4   # 4 is a stages record, not a value
expect_fail 4 'has no version 99' $V promote $N 99
expect_fail 4 'has no version abc' $V get $N abc
kb_pass "promote, no-op promote, get by version, unknown versions"

# Idempotency: same token + same value returns the same version.
[ "$($V put keybroker/ci/bot "$T/bin" current tok-1)" = 1 ] || kb_fail "binary put"
[ "$($V put keybroker/ci/bot "$T/bin" current tok-1)" = 1 ] || kb_fail "a retried put wrote again"
expect_fail 1 'idempotency token tok-1 was already used' $V put keybroker/ci/bot "$T/v1" current tok-1
$V get keybroker/ci/bot >"$T/out" 2>/dev/null && cmp -s "$T/out" "$T/bin" || kb_fail "binary value changed"
vapi GET secret/data/keybroker/ci/bot | jget '"value_base64" in d["data"]["data"]' | grep -qx True ||
	kb_fail "binary value not stored as value_base64"
kb_pass "idempotency tokens, binary values"

# A secret written by another Vault client (vault kv put x a=b c=d).
vapi POST secret/data/keybroker/ext/legacy '{"data":{"user":"deploy","password":"p"}}' >/dev/null
[ "$($V get keybroker/ext/legacy 2>/dev/null)" = '{"password":"p","user":"deploy"}' ] || kb_fail "foreign read"
[ "$($V put keybroker/ext/legacy "$T/v2")" = 2 ] || kb_fail "put on a foreign secret"
[ "$($V describe keybroker/ext/legacy | tr '\n' ';')" = "1 previous;2 current;" ] || kb_fail "foreign describe"
kb_pass "secrets written by other Vault clients"

[ "$($V ls keybroker/ | tr '\n' ' ')" = "keybroker/ci/bot keybroker/deploy/alice keybroker/ext/legacy " ] ||
	kb_fail "ls: $($V ls keybroker/)"
[ "$($V ls keybroker/de | tr '\n' ' ')" = "keybroker/deploy/alice " ] || kb_fail "ls prefix: $($V ls keybroker/de)"
[ -z "$($V ls nothing/)" ] || kb_fail "ls of an empty prefix"
$V rm keybroker/ci/bot || kb_fail "rm"
expect_fail 4 'no secret keybroker/ci/bot' $V get keybroker/ci/bot
expect_fail 4 'no secret keybroker/ci/bot' $V rm keybroker/ci/bot
expect_fail 4 'no secret keybroker/nope' $V describe keybroker/nope
kb_pass "ls with prefixes, rm, not found"
