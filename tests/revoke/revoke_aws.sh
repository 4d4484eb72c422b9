#!/usr/bin/env bash
# broker revoke / krl publish with the AWS Secrets Manager backend
# (moto_server, SigV4 checked): the record is a secret boto3 can read,
# concurrent revokers lose nothing (idempotency-token compare-and-swap),
# and the published KRL makes sshd refuse the revoked certificate; then
# concurrent batch revokers that seal shards on AWS lose nothing and boto3
# reassembles the whole record from the head and its shards.
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/aws/lib.sh"
. "$KB_SOURCE_ROOT/tests/issue/lib.sh"

aws_moto_start
kb_tmpdir D
issue_setup "$D" aws
KRL=$D/revoked.krl
"$BROKER" krl publish -f "$KRL" 2>"$D/err" || kb_fail "first publish: $(cat "$D/err")"
mkdir -p "$D/sshd"
echo deploy >"$D/sshd/principals"
kb_sshd_start "$D/sshd" "TrustedUserCAKeys $D/ca.pub" "RevokedKeys $KRL" \
	"AuthorizedPrincipalsFile $D/sshd/principals"
login() { kb_ssh -o IdentitiesOnly=yes -i "$1" "$ME@127.0.0.1" true 2>/dev/null; }
for n in e1 e2 e3 e4 e5; do
	"$BROKER" issue --role deploy --principal deploy --ttl 30m --name $n --no-agent --out "$D/$n" >/dev/null 2>"$D/err" ||
		kb_fail "issue $n (aws): $(cat "$D/err")"
done
login "$D/e1" || kb_fail "e1 does not log in before revocation"
pids=()
for n in e1 e2 e3 e4; do
	"$BROKER" revoke --identity "$n" --reason "aws test" 2>"$D/err-$n" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || kb_fail "a concurrent revoke failed: $(cat "$D"/err-e*)"; done
"$BROKER" --json krl publish -f "$KRL" >"$D/pub.json" 2>"$D/err" || kb_fail "publish (aws): $(cat "$D/err")"
[ "$(issue_json "$D/pub.json" 'j["entries"]')" = 4 ] || kb_fail "entries lost: $(cat "$D/pub.json")"
[ "$(issue_json "$D/pub.json" 'j["krl_version"]')" = 2 ] || kb_fail "krl_version: $(cat "$D/pub.json")"
aws_py - <<'PY' || kb_fail "boto3 cannot read keybroker/revocations"
import boto3, json, os
sm = boto3.client("secretsmanager", region_name=os.environ["AWS_REGION"], endpoint_url=os.environ["AWS_ENDPOINT_URL"])
v = sm.get_secret_value(SecretId="keybroker/revocations")
d = json.loads(v.get("SecretString") or v["SecretBinary"])
assert d["kind"] == "keybroker/revocations/v2"
assert sorted(e["identity"] for e in d["entries"]) == ["deploy/e%d" % i for i in range(1, 5)], d
assert d["krl_version"] == 2
PY
for n in e1 e2 e3 e4; do login "$D/$n" && kb_fail "$n accepted after revocation (aws)"; done
login "$D/e5" || kb_fail "e5 refused although not revoked"
"$BROKER" audit verify "$D/audit/audit.log" >/dev/null 2>"$D/err" || kb_fail "audit verify: $(cat "$D/err")"
kb_pass "aws: four concurrent revocations recorded, KRL refuses them in sshd, e5 logs in, audit verifies"

# ---- sharding on AWS: three concurrent batches of 700 and four single revokes ----
python3 -c 'import random; r=random.Random(9); print("\n".join(str(r.randrange(1,2**63)) for _ in range(2104)))' >"$D/serials"
pids=()
for i in 0 1 2; do
	# shellcheck disable=SC2046
	"$BROKER" -q revoke --no-agent $(sed -n "$((i * 700 + 1)),$((i * 700 + 700))p" "$D/serials" | sed 's/^/--serial /') \
		2>"$D/err-b$i" &
	pids+=($!)
done
for s in $(sed -n '2101,2104p' "$D/serials"); do
	"$BROKER" -q revoke --no-agent --serial "$s" 2>"$D/err-s$s" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || kb_fail "a concurrent revoke failed (aws): $(cat "$D"/err-[bs]*)"; done
"$BROKER" --json krl publish -f "$KRL" >"$D/pub.json" 2>"$D/err" || kb_fail "publish (aws): $(cat "$D/err")"
[ "$(issue_json "$D/pub.json" 'j["entries"]')" = 2108 ] || kb_fail "entries lost (aws): $(cat "$D/pub.json")"
aws_py - "$D/serials" <<'PY' || kb_fail "boto3 cannot reassemble the sharded record"
import boto3, json, os, sys
sm = boto3.client("secretsmanager", region_name=os.environ["AWS_REGION"], endpoint_url=os.environ["AWS_ENDPOINT_URL"])
def get(name):
    v = sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")
    return json.loads(v.get("SecretString") or v["SecretBinary"])
head = get("keybroker/revocations")
assert head["kind"] == "keybroker/revocations/v2"
assert len(head["shards"]) >= 2, head["shards"]
serials = set(e["serial"] for e in head["entries"] if "serial" in e)
for sid in head["shards"]:
    sh = get("keybroker/revocations/shards/" + sid)
    assert sh["kind"] == "keybroker/revocation-shard/v1"
    for e in sh["entries"]:
        assert isinstance(e.get("ca", 0), int) and e.get("ca", 0) < len(sh["cas"])
        if "serial" in e:
            serials.add(e["serial"])
want = set(open(sys.argv[1]).read().split())
assert want <= serials, len(want - serials)
PY
kb_pass "aws: concurrent batch revokers seal shards, all 2108 entries published, boto3 reads head + shards"

# ---- prune on AWS: an expired certificate's revocation goes, the shard it was in is rewritten ----
"$BROKER" store get keybroker/ca/user --field private_key >"$D/ca.key" || kb_fail "CA key (aws)"
chmod 600 "$D/ca.key"
ssh-keygen -q -t ed25519 -N '' -f "$D/old" </dev/null
ssh-keygen -q -s "$D/ca.key" -I expired -n deploy -z 4242 -V 20200101:20200102 "$D/old.pub" || kb_fail "sign (aws)"
"$BROKER" -q revoke --no-agent --cert "$D/old-cert.pub" 2>"$D/err" || kb_fail "revoke --cert (aws): $(cat "$D/err")"
"$BROKER" --json revoke --prune >"$D/prune.json" 2>"$D/err" || kb_fail "prune (aws): $(cat "$D/err")"
[ "$(issue_json "$D/prune.json" 'j["dropped_count"]')" = 1 ] || kb_fail "prune (aws): $(cat "$D/prune.json")"
[ "$(issue_json "$D/prune.json" 'j["kept"]')" = 2108 ] || kb_fail "prune kept (aws): $(cat "$D/prune.json")"
"$BROKER" --json krl publish -f "$KRL" >"$D/pub.json" 2>"$D/err" || kb_fail "publish (aws): $(cat "$D/err")"
[ "$(issue_json "$D/pub.json" 'j["entries"]')" = 2108 ] || kb_fail "entries after prune (aws): $(cat "$D/pub.json")"
kb_pass "aws: --prune drops the expired certificate's revocation, 2108 kept and published"
