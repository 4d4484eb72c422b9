#!/usr/bin/env bash
# `broker store --backend aws` against moto_server with SigV4 checking on,
# cross-checked with boto3 both ways: what the broker writes boto3 reads and
# parses (the JSON credential format of DESIGN.md), and what boto3 writes
# the broker reads, promotes and lists.
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/aws/lib.sh"
set -o pipefail

kb_tmpdir T
aws_moto_start
export BROKER_BACKEND=aws
printf '# aws tests: settings come from the environment\n' >"$T/broker.conf"
b() { "$BROKER" --config "$T/broker.conf" "$@"; }
boto() { python3 - "$MOTO_URL" "$@"; }

if b store --help 2>&1 | grep -qi "not implemented"; then
	kb_fail "broker store is not implemented in this build"
fi

# A real credential in the stored format.
ssh-keygen -q -t ed25519 -N '' -C 'alice@deploy#42' -f "$T/id" >/dev/null
python3 - "$T/id" >"$T/cred.json" <<'PY'
import json, sys
k = open(sys.argv[1]).read(); pub = open(sys.argv[1] + ".pub").read().strip()
print(json.dumps({"kind": "keybroker/ssh-credential/v1", "key_type": "ssh-ed25519",
  "private_key": k, "public_key": pub, "serial": 42, "key_id": "alice@deploy#42",
  "principals": ["deploy"], "valid_after": "2026-11-29T20:00:00Z",
  "valid_before": "2026-11-29T20:30:00Z", "role": "deploy", "requested_by": "alice"}))
PY
N=keybroker/deploy/alice

# 1. broker writes, boto3 reads and parses.
out=$(b --json store put $N --from-file "$T/cred.json") || kb_fail "broker store put"
V1=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])' <<<"$out")
boto "$N" "$T/id" "$V1" <<'PY' || kb_fail "boto3 could not read what the broker wrote"
import sys, json, boto3
sm = boto3.client("secretsmanager", endpoint_url=sys.argv[1], region_name="us-east-1")
r = sm.get_secret_value(SecretId=sys.argv[2], VersionStage="AWSCURRENT")
assert r["VersionId"] == sys.argv[4], (r["VersionId"], sys.argv[4])
doc = json.loads(r["SecretString"])
assert doc["kind"] == "keybroker/ssh-credential/v1"
assert doc["private_key"] == open(sys.argv[3]).read()
assert doc["public_key"] == open(sys.argv[3] + ".pub").read().strip()
assert doc["principals"] == ["deploy"] and doc["serial"] == 42
tags = {t["Key"]: t["Value"] for t in sm.describe_secret(SecretId=sys.argv[2]).get("Tags", [])}
assert tags.get("keybroker:managed") == "true", tags
PY
b store get $N --field private_key >"$T/key.out" || kb_fail "get --field private_key"
cmp -s "$T/key.out" "$T/id" || diff <(head -c 60 "$T/key.out") <(head -c 60 "$T/id") >/dev/null \
	|| kb_fail "private key read back differs"
ssh-keygen -y -f "$T/id" >/dev/null || kb_fail "stored key unusable"
kb_pass "broker put -> boto3 get: JSON credential parsed, private key intact, secret tagged"

# Binary values round-trip through SecretBinary.
head -c 300 /dev/urandom >"$T/bin"
b store put keybroker/bin/x --from-file "$T/bin" >/dev/null || kb_fail "put binary"
boto keybroker/bin/x "$T/bin" <<'PY' || kb_fail "boto3 binary read"
import sys, boto3
sm = boto3.client("secretsmanager", endpoint_url=sys.argv[1], region_name="us-east-1")
assert sm.get_secret_value(SecretId=sys.argv[2], VersionStage="AWSCURRENT")["SecretBinary"] == open(sys.argv[3], "rb").read()
PY
b store get keybroker/bin/x >"$T/bin.out" || kb_fail "get binary"
cmp -s "$T/bin" "$T/bin.out" || kb_fail "binary value differs"
kb_pass "binary value round trip (SecretBinary) both ways"

# 2. boto3 writes (current + pending), broker reads, promotes, lists.
boto <<'PY' >"$T/ids" || kb_fail "boto3 writes"
import sys, json, boto3
sm = boto3.client("secretsmanager", endpoint_url=sys.argv[1], region_name="us-east-1")
a = sm.create_secret(Name="keybroker/ci/bob", SecretString=json.dumps({"kind": "keybroker/ssh-credential/v1", "n": 1}))
p = sm.put_secret_value(SecretId="keybroker/ci/bob", SecretString=json.dumps({"kind": "keybroker/ssh-credential/v1", "n": 2}),
                        VersionStages=["AWSPENDING"])
print(a["VersionId"], p["VersionId"])
PY
read -r BV1 BV2 <"$T/ids"
[ "$(b store get keybroker/ci/bob --field n)" = 1 ] || kb_fail "broker get current of a boto3 secret"
[ "$(b store get keybroker/ci/bob --stage pending --field n)" = 2 ] || kb_fail "broker get pending"
[ "$(b store get keybroker/ci/bob --version "$BV2" --field n)" = 2 ] || kb_fail "broker get --version"
b --json store describe keybroker/ci/bob >"$T/desc.json" || kb_fail "describe"
python3 - "$T/desc.json" "$BV1" "$BV2" <<'PY' || kb_fail "describe --json stages: $(cat "$T/desc.json")"
import json, sys
d = json.load(open(sys.argv[1]))
st = {v["version"]: v["stages"] for v in d["versions"]}
assert st[sys.argv[2]] == ["current"] and st[sys.argv[3]] == ["pending"], st
assert d["name"] == "keybroker/ci/bob"
PY
b store promote keybroker/ci/bob "$BV2" >/dev/null || kb_fail "promote"
boto "$BV1" "$BV2" <<'PY' || kb_fail "boto3 does not see the promotion"
import sys, boto3
sm = boto3.client("secretsmanager", endpoint_url=sys.argv[1], region_name="us-east-1")
m = sm.describe_secret(SecretId="keybroker/ci/bob")["VersionIdsToStages"]
assert m[sys.argv[3]] == ["AWSCURRENT"], m
assert m[sys.argv[2]] == ["AWSPREVIOUS"], m
PY
[ "$(b store get keybroker/ci/bob --field n)" = 2 ] || kb_fail "current after promote"
[ "$(b store get keybroker/ci/bob --stage previous --field n)" = 1 ] || kb_fail "previous after promote"
# A put after a promote: exactly one current, the promoted one previous
# (moto needs the broker's check here, see fix_double_current).
printf '{"n":3}' | b store put keybroker/ci/bob --from-file - >/dev/null || kb_fail "put after promote"
boto "$BV2" <<'PY' || kb_fail "stages after put following a promote"
import sys, boto3
sm = boto3.client("secretsmanager", endpoint_url=sys.argv[1], region_name="us-east-1")
m = sm.describe_secret(SecretId="keybroker/ci/bob")["VersionIdsToStages"]
cur = [v for v, s in m.items() if "AWSCURRENT" in s]
prev = [v for v, s in m.items() if "AWSPREVIOUS" in s]
assert len(cur) == 1 and prev == [sys.argv[2]], m
assert sm.get_secret_value(SecretId="keybroker/ci/bob", VersionStage="AWSCURRENT")["SecretString"] == '{"n":3}'
PY
kb_pass "boto3 put -> broker get/describe/promote -> boto3 sees AWSCURRENT/AWSPREVIOUS moved; put after promote"

# 3. Pending put by the broker with a token, idempotent; promote.
out=$(b --json store put $N --from-file "$T/cred.json" --stage pending --token rot-1) || kb_fail "pending put"
PV=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])' <<<"$out")
out2=$(b --json store put $N --from-file "$T/cred.json" --stage pending --token rot-1) || kb_fail "pending put again"
[ "$PV" = "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])' <<<"$out2")" ] || kb_fail "token not idempotent"
b store put $N --from-file "$T/bin" --stage pending --token rot-1 2>"$T/err" && kb_fail "token reuse with another value"
b store promote $N "$PV" >/dev/null || kb_fail "promote pending"
b --json store describe $N | python3 -c '
import json,sys; d=json.load(sys.stdin); st={v["version"]: v["stages"] for v in d["versions"]}
assert st[sys.argv[1]] == ["current"], st; assert st[sys.argv[2]] == ["previous"], st' "$PV" "$V1" \
	|| kb_fail "stages after pending promote"
kb_pass "pending put with token is idempotent; conflicting reuse refused; promote"

# 4. ls with prefix.
b --json store ls keybroker/ >"$T/ls.json" || kb_fail "ls"
python3 - "$T/ls.json" <<'PY' || kb_fail "ls: $(cat "$T/ls.json")"
import json, sys
n = json.load(open(sys.argv[1]))["names"]
assert n == sorted(n) and {"keybroker/ci/bob", "keybroker/deploy/alice", "keybroker/bin/x"} <= set(n), n
PY
[ "$(b store ls keybroker/ci/)" = keybroker/ci/bob ] || kb_fail "ls prefix"
kb_pass "ls (sorted, prefix)"

# 5. Wrong secret key: the clear message and exit 5.
AWS_SECRET_ACCESS_KEY=wrong${AWS_SECRET_ACCESS_KEY#?????} b store get $N >/dev/null 2>"$T/err"
rc=$?
[ $rc = 5 ] || kb_fail "wrong key: exit $rc: $(cat "$T/err")"
grep -qF "AWS rejected the request signature (SignatureDoesNotMatch): check AWS_SECRET_ACCESS_KEY" "$T/err" \
	|| kb_fail "wrong key message: $(cat "$T/err")"
grep -q "$AWS_SECRET_ACCESS_KEY" "$T/err" && kb_fail "secret key printed"
kb_pass "wrong secret key: exit 5, $(head -1 "$T/err")"

# 6. rm; then not found (exit 4).
b store rm keybroker/ci/bob >/dev/null || kb_fail "rm"
boto <<'PY' || kb_fail "secret still exists for boto3"
import sys, boto3
sm = boto3.client("secretsmanager", endpoint_url=sys.argv[1], region_name="us-east-1")
try:
    sm.describe_secret(SecretId="keybroker/ci/bob")
    sys.exit(1)
except sm.exceptions.ResourceNotFoundException:
    pass
PY
b store get keybroker/ci/bob >/dev/null 2>&1
[ $? = 4 ] || kb_fail "get after rm: not exit 4"
kb_pass "rm deletes (boto3 agrees); get afterwards exits 4"
exit 0
