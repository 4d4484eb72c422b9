#!/usr/bin/env bash
# broker revoke / krl publish with the AWS Secrets Manager backend
# (moto_server, SigV4 checked): the record is a secret boto3 can read,
# concurrent revokers lose nothing (idempotency-token compare-and-swap),
# and the published KRL makes sshd refuse the revoked certificate.
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
