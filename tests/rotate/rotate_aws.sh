#!/usr/bin/env bash
# broker rotate with the AWS Secrets Manager backend (moto_server, SigV4
# checked) against three real sshds: the stages are AWSCURRENT /
# AWSPENDING / AWSPREVIOUS that boto3 sees; a crash after create and after
# promote converge on rerun; two jobs rotating the same credential at once
# end with one key: the idempotency token makes them share the pending
# version, and a job whose key lost anyway (moto overwrites a version
# where AWS refuses) does not promote it and takes it back off the hosts.
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/aws/lib.sh"
. "$KB_SOURCE_ROOT/tests/rotate/lib.sh"

aws_moto_start
kb_tmpdir D
rot_setup "$D" aws
NHOSTS=3
rot_hosts "$D" $NHOSTS
rot_targets
CRED=keybroker/ops/web

"$BROKER" static create web --role ops "${TARGETS[@]}" >/dev/null 2>"$D/err" || kb_fail "static create (aws): $(cat "$D/err")"
for i in 1 2 3; do "$BROKER" store get "$CRED" --field public_key >"$D/h$i/keys/$ME.keys"; done
"$BROKER" rotate --role ops "${HOSTOPTS[@]}" 2>"$D/err" || kb_fail "rotate (aws): $(cat "$D/err")"
rot_converged "aws rotation"
aws_py - "$CRED" <<'PY' || kb_fail "boto3 does not see the rotated static credential"
import boto3, json, os, sys
sm = boto3.client("secretsmanager", region_name=os.environ["AWS_REGION"], endpoint_url=os.environ["AWS_ENDPOINT_URL"])
cur = json.loads(sm.get_secret_value(SecretId=sys.argv[1], VersionStage="AWSCURRENT")["SecretString"])
prev = json.loads(sm.get_secret_value(SecretId=sys.argv[1], VersionStage="AWSPREVIOUS")["SecretString"])
assert cur["kind"] == "keybroker/ssh-credential/v1" and "certificate" not in cur, cur.keys()
assert len(cur["targets"]) == 3 and cur["role"] == "ops"
assert cur["public_key"] != prev["public_key"]
stages = [s for v in sm.list_secret_version_ids(SecretId=sys.argv[1])["Versions"] for s in v.get("VersionStages", [])]
assert "AWSPENDING" not in stages, stages
PY
kb_pass "aws: rotation converges; boto3 reads AWSCURRENT/AWSPREVIOUS, no AWSPENDING left"

for point in create promote; do
	rc=0
	KEYBROKER_TEST_CRASH=$point "$BROKER" rotate --credential ops/web "${HOSTOPTS[@]}" >/dev/null 2>&1 || rc=$?
	[ "$rc" = 137 ] || kb_fail "aws crash at $point: exit $rc"
	rot_current_everywhere "aws crash at $point"
	"$BROKER" rotate --credential ops/web "${HOSTOPTS[@]}" 2>"$D/err" || kb_fail "aws rerun after $point: $(cat "$D/err")"
	rot_converged "aws rerun after a crash at $point"
done
kb_pass "aws: crashes after create and after promote converge"

# Two jobs at once on the same credential.
"$BROKER" rotate --credential web "${HOSTOPTS[@]}" >/dev/null 2>"$D/j1.err" &
p1=$!
"$BROKER" rotate --credential web "${HOSTOPTS[@]}" >/dev/null 2>"$D/j2.err" &
p2=$!
rc1=0 rc2=0
wait $p1 || rc1=$?
wait $p2 || rc2=$?
# Each either finished the rotation or found it being finished; a rerun
# settles whatever the race left.
"$BROKER" rotate --credential web --resume-only "${HOSTOPTS[@]}" 2>"$D/err" ||
	kb_fail "after two concurrent jobs ($rc1, $rc2): $(cat "$D/err" "$D/j1.err" "$D/j2.err")"
rot_converged "two concurrent jobs"
aws_py - "$CRED" <<'PY' || kb_fail "two concurrent jobs made more than one new version"
import boto3, os, sys
sm = boto3.client("secretsmanager", region_name=os.environ["AWS_REGION"], endpoint_url=os.environ["AWS_ENDPOINT_URL"])
vs = sm.list_secret_version_ids(SecretId=sys.argv[1], IncludeDeprecated=True)["Versions"]
# create + rotation + 2 crash reruns (+1 each: create reuses) = 5, + 1 for the concurrent pair
assert len(vs) <= 6, len(vs)
PY
kb_pass "aws: two concurrent jobs: one key wins (the loser takes its own key back), converges (exits $rc1, $rc2)"
