#!/usr/bin/env bash
# Backend conformance test: the semantics of store.h checked through
# `broker store`, against whichever backend the environment selects.
#
# Usage:
#   BROKER=/path/to/broker [BROKER_BACKEND=local|aws|vault] [backend env...] \
#     bash tests/store/conformance.sh
#
# Environment:
#   BROKER                   the broker binary (required)
#   BROKER_BACKEND           backend to test (or put --backend X in KB_CONFORMANCE_ARGS)
#   KB_CONFORMANCE_ARGS      extra global options for every broker call (e.g. "--config F")
#   KB_CONFORMANCE_PREFIX    name prefix for the secrets it creates
#                            (default keybroker/conformance/<random>); all are removed at the end
#   KB_CONFORMANCE_BIG       set to 0 to skip the 64 KiB value checks
#   plus whatever the backend needs: BROKER_STORE_DIR for local; AWS_ACCESS_KEY_ID,
#   AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL for aws (moto_server);
#   VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT for vault (the emulator).
#
# From meson (the aws and vault helpers):
#   test('aws-conformance', sh, args: [files('../store/conformance.sh')], env: env_with_backend,
#        suite: 'integration')
# It prints "ok: ..." per check and exits non-zero at the first failure, saying
# what was expected and what the backend did.  Version ids are taken from
# `put --json`, so backends with UUID versions (aws) work too.
set -u

: "${BROKER:?set BROKER to the broker binary}"
read -r -a ARGS <<<"${KB_CONFORMANCE_ARGS:-}"
P=${KB_CONFORMANCE_PREFIX:-keybroker/conformance/$$-$RANDOM}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kbconf.XXXXXX") || exit 1
CREATED=()

cleanup() {
	local n
	for n in "${CREATED[@]}"; do "$BROKER" "${ARGS[@]}" store rm "$n" >/dev/null 2>&1; done
	rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
b() { "$BROKER" "${ARGS[@]}" "$@"; }

# jget JSON EXPR: evaluates a Python expression on the parsed JSON "j".
jget() { python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

# put NAME VALUE [put options...] -> prints the version id
put() {
	local name=$1 value=$2 out
	shift 2
	out=$(printf '%s' "$value" | b --json store put "$name" --from-file - "$@") ||
		fail "put $name $* exited $?"
	CREATED+=("$name")
	jget "$out" 'j["version"]'
}

# expect_get NAME EXPECTED [get options...]
expect_get() {
	local name=$1 want=$2 got
	shift 2
	got=$(b store get "$name" "$@" && echo x) || fail "get $name $* exited non-zero"
	got=${got%x}
	[ "$got" = "$want" ] || fail "get $name $*: expected '$want', got '$got'"
}

# expect_rc CODE CMD...
expect_rc() {
	local want=$1 rc
	shift
	b "$@" >"$WORK/out" 2>"$WORK/err"
	rc=$?
	[ "$rc" -eq "$want" ] || fail "broker $*: exit $rc, expected $want ($(cat "$WORK/err"))"
}

# stages NAME -> "v1:stage+stage v2:- ..." in version order as given by put ids
stages_of() {
	local out
	out=$(b --json store describe "$1") || fail "describe $1 exited non-zero"
	python3 -c '
import json, sys
j = json.loads(sys.argv[1])
ids = sys.argv[2:]
by = {v["version"]: "+".join(sorted(v["stages"])) or "-" for v in j["versions"]}
print(" ".join(by.get(i, "absent") for i in ids))' "$out" "${@:2}"
}

expect_stages() { # NAME "EXPECTED" ID...
	local name=$1 want=$2 got
	shift 2
	got=$(stages_of "$name" "$@")
	[ "$got" = "$want" ] || fail "stages of $name: expected '$want', got '$got'"
}

S=$P/secret

# 1. A missing secret is "not found" (exit 4) for get, describe, promote, rm.
expect_rc 4 store get "$S"
expect_rc 4 store describe "$S"
expect_rc 4 store rm "$S"
pass "missing secret gives exit 4"

# 2. Versions and stages.
v1=$(put "$S" "value-one")
expect_get "$S" "value-one"
expect_stages "$S" "current" "$v1"
v2=$(put "$S" "value-two")
[ "$v1" != "$v2" ] || fail "two puts gave the same version id $v1"
expect_get "$S" "value-two"
expect_get "$S" "value-one" --stage previous
expect_get "$S" "value-one" --version "$v1"
expect_stages "$S" "previous current" "$v1" "$v2"
pass "put makes current, the old current becomes previous"

v3=$(put "$S" "value-three" --stage pending)
expect_get "$S" "value-two"
expect_get "$S" "value-three" --stage pending
expect_stages "$S" "previous current pending" "$v1" "$v2" "$v3"
pass "pending put leaves current alone"

b store promote "$S" "$v3" >/dev/null || fail "promote $v3"
expect_get "$S" "value-three"
expect_get "$S" "value-two" --stage previous
expect_rc 4 store get "$S" --stage pending
expect_stages "$S" "- previous current" "$v1" "$v2" "$v3"
b store promote "$S" "$v3" >/dev/null || fail "promote of the current version must be a no-op"
expect_stages "$S" "- previous current" "$v1" "$v2" "$v3"
pass "promote moves current and previous, drops pending; again is a no-op"

b store promote "$S" "$v1" >/dev/null || fail "promote old $v1"
expect_get "$S" "value-one"
expect_stages "$S" "current - previous" "$v1" "$v2" "$v3"
expect_get "$S" "value-two" --version "$v2"
pass "an old version can be promoted back"

# 3. Idempotency tokens.
tok=tok-$$-$RANDOM
v4=$(put "$S" "value-four" --token "$tok")
v4b=$(put "$S" "value-four" --token "$tok")
[ "$v4" = "$v4b" ] || fail "retry with token $tok gave $v4b, expected $v4"
n_before=$(jget "$(b --json store describe "$S")" 'len(j["versions"])')
printf 'other' | b store put "$S" --from-file - --token "$tok" >/dev/null 2>"$WORK/err" &&
	fail "same token with another value must fail"
n_after=$(jget "$(b --json store describe "$S")" 'len(j["versions"])')
[ "$n_before" = "$n_after" ] || fail "a refused put added a version ($n_before -> $n_after)"
expect_get "$S" "value-four"
pass "idempotency token: retry returns the same version, another value is refused"

# 4. Listing by prefix, sorted.
put "$P/list/b" "b" >/dev/null
put "$P/list/a" "a" >/dev/null
put "$P/lister" "c" >/dev/null
got=$(b store ls "$P/list/" | tr '\n' ' ')
[ "$got" = "$P/list/a $P/list/b " ] || fail "ls $P/list/: got '$got'"
got=$(jget "$(b --json store ls "$P/list")" '" ".join(j["names"])')
[ "$got" = "$P/list/a $P/list/b $P/lister" ] || fail "ls --json $P/list: got '$got'"
pass "ls PREFIX lists matching names sorted"

# 5. JSON fields.
put "$P/cred" '{"kind":"keybroker/ssh-credential/v1","public_key":"ssh-ed25519 AAAAC3Nza test","serial":42}' >/dev/null
expect_get "$P/cred" $'ssh-ed25519 AAAAC3Nza test\n' --field public_key
expect_get "$P/cred" $'42\n' --field serial
expect_rc 4 store get "$P/cred" --field nosuch
got=$(jget "$(b --json store get "$P/cred" --field public_key)" 'j["value"]')
[ "$got" = "ssh-ed25519 AAAAC3Nza test" ] || fail "get --json --field: got '$got'"
pass "get --field extracts a top-level JSON field"

# 6. Exact bytes, --json get.
printf 'line one\nline two\n' >"$WORK/multi"
b store put "$P/multi" --from-file "$WORK/multi" >/dev/null || fail "put from file"
CREATED+=("$P/multi")
b store get "$P/multi" >"$WORK/multi.out" || fail "get multi"
cmp -s "$WORK/multi" "$WORK/multi.out" || fail "value changed in a round trip"
got=$(jget "$(b --json store get "$P/multi")" 'repr(j["value"])')
[ "$got" = "'line one\\nline two\\n'" ] || fail "get --json value: $got"
pass "values round-trip byte for byte"

# 7. Size limit: 64 KiB is accepted, one byte more is refused with nothing written.
if [ "${KB_CONFORMANCE_BIG:-1}" != 0 ]; then
	python3 -c 'import sys; sys.stdout.write("k" * 65536)' >"$WORK/big"
	b store put "$P/big" --from-file "$WORK/big" >/dev/null || fail "64 KiB value refused"
	CREATED+=("$P/big")
	b store get "$P/big" >"$WORK/big.out" && cmp -s "$WORK/big" "$WORK/big.out" || fail "64 KiB round trip"
	printf 'x' >>"$WORK/big"
	b store put "$P/big" --from-file "$WORK/big" >/dev/null 2>&1 && fail "65537-byte value accepted"
	n=$(jget "$(b --json store describe "$P/big")" 'len(j["versions"])')
	[ "$n" = 1 ] || fail "refused oversize put left $n versions"
	pass "64 KiB limit"
fi

# 8. Bad input.
expect_rc 2 store get "../etc/passwd"
expect_rc 2 store put "a//b" --from-file "$WORK/multi"
expect_rc 4 store get "$S" --version 999999999
expect_rc 4 store promote "$S" 999999999
pass "invalid names exit 2, unknown versions exit 4"

# 9. Delete.
b store rm "$S" >/dev/null || fail "rm $S"
expect_rc 4 store get "$S"
expect_rc 4 store describe "$S"
expect_rc 4 store rm "$S"
b store ls "$P/" | grep -qx "$S" && fail "removed secret still listed"
pass "rm removes the secret and all versions"

echo "conformance: all checks passed (backend: ${BROKER_BACKEND:-from config/args})"
