#!/usr/bin/env bash
# The AWS credential chain as the AWS CLI has it: environment, shared
# credentials and config files with profiles, and the instance role through
# IMDSv2 (tests/aws/imds.py), each then used against moto_server with
# signature checking on.
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/aws/lib.sh"
set -o pipefail

kb_tmpdir T
aws_moto_start
AK=$AWS_ACCESS_KEY_ID SK=$AWS_SECRET_ACCESS_KEY
tool() { "$AWSSTORE_TOOL" "$@"; }
noenv() { env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_REGION HOME="$T/home" "$@"; }
mkdir -p "$T/home/.aws"
printf 'x' >"$T/v"

# 1. Environment.
[ "$(tool creds)" = "env $AK - 0" ] || kb_fail "env credentials: $(tool creds)"
[ "$(AWS_SESSION_TOKEN=tok tool creds)" = "env $AK token 0" ] || kb_fail "env session token"
env -u AWS_SECRET_ACCESS_KEY "$AWSSTORE_TOOL" creds 2>"$T/err" && kb_fail "partial env accepted"
grep -q "AWS_SECRET_ACCESS_KEY is not" "$T/err" || kb_fail "partial env message: $(cat "$T/err")"
kb_pass "environment credentials (with and without session token, partial refused)"

# The signing helper serves EC2 Instance Connect too (moto checks the
# signature; service name ec2-instance-connect).
ssh-keygen -q -t ed25519 -N '' -f "$T/eic" >/dev/null
out=$(tool eic i-0123456789abcdef0 ec2-user "$(cat "$T/eic.pub")") || kb_fail "SendSSHPublicKey"
case $out in *'"Success": true'*|*'"Success":true'*) ;; *) kb_fail "SendSSHPublicKey answer: $out" ;; esac
AWS_SECRET_ACCESS_KEY=nope "$AWSSTORE_TOOL" eic i-0123456789abcdef0 ec2-user "$(cat "$T/eic.pub")" 2>"$T/err" \
	&& kb_fail "EIC with a wrong key"
grep -q SignatureDoesNotMatch "$T/err" || kb_fail "EIC wrong key: $(cat "$T/err")"
kb_pass "EC2 Instance Connect SendSSHPublicKey signed for ec2-instance-connect (wrong key refused)"

# 2. Shared credentials file and profiles.
cat >"$T/home/.aws/credentials" <<EOC
# a comment
[default]
aws_access_key_id = AKIADEFAULT000000000
aws_secret_access_key = wrongwrongwrong

[dev]
aws_access_key_id=$AK
aws_secret_access_key =   $SK
EOC
cat >"$T/home/.aws/config" <<EOC
[default]
region = us-east-1

[profile dev]
region = eu-west-3
s3 =
    max_concurrent_requests = 2

[profile ops]
aws_access_key_id = $AK
aws_secret_access_key = $SK
region = ap-south-1
EOC
[ "$(noenv "$AWSSTORE_TOOL" creds)" = "shared-credentials-file AKIADEFAULT000000000 - 0" ] || kb_fail "default profile"
[ "$(noenv AWS_PROFILE=dev "$AWSSTORE_TOOL" creds)" = "shared-credentials-file $AK - 0" ] || kb_fail "profile dev"
[ "$(noenv AWS_PROFILE=ops "$AWSSTORE_TOOL" creds)" = "config-file $AK - 0" ] || kb_fail "profile ops from config"
noenv AWS_PROFILE=nope "$AWSSTORE_TOOL" creds 2>"$T/err" && kb_fail "missing profile accepted"
grep -q 'profile "nope" not found' "$T/err" || kb_fail "missing profile message: $(cat "$T/err")"
cp "$T/home/.aws/credentials" "$T/other-creds"
sed -i 's/\[dev\]/[alt]/' "$T/other-creds"
[ "$(noenv AWS_SHARED_CREDENTIALS_FILE="$T/other-creds" AWS_PROFILE=alt "$AWSSTORE_TOOL" creds)" = "shared-credentials-file $AK - 0" ] \
	|| kb_fail "AWS_SHARED_CREDENTIALS_FILE"
cp "$T/home/.aws/config" "$T/other-config"
sed -i 's/\[profile ops\]/[profile ops2]/' "$T/other-config"
[ "$(noenv AWS_CONFIG_FILE="$T/other-config" AWS_PROFILE=ops2 "$AWSSTORE_TOOL" creds)" = "config-file $AK - 0" ] \
	|| kb_fail "AWS_CONFIG_FILE"
kb_pass "shared credentials/config files, AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE"

# The profile's keys and region really sign requests moto accepts: the
# secret lands in the profile's region (moto keeps regions apart).
noenv AWS_PROFILE=dev "$AWSSTORE_TOOL" put keybroker/creds/dev "$T/v" >/dev/null || kb_fail "put with profile dev"
python3 - "$MOTO_URL" "$AK" "$SK" <<'PY' || kb_fail "secret not in eu-west-3"
import sys, boto3
sm = boto3.client("secretsmanager", endpoint_url=sys.argv[1], region_name="eu-west-3",
                  aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
assert sm.get_secret_value(SecretId="keybroker/creds/dev", VersionStage="AWSCURRENT")["SecretString"] == "x"
PY
noenv "$AWSSTORE_TOOL" get keybroker/creds/dev 2>"$T/err" && kb_fail "default profile's wrong key accepted"
[ $? = 5 ] && grep -q "check AWS_" "$T/err" || kb_fail "wrong key from file: $(cat "$T/err")"
noenv AWS_PROFILE=dev AWS_CONFIG_FILE=/nonexistent "$AWSSTORE_TOOL" list 2>"$T/err" && kb_fail "no region accepted"
grep -q "no AWS region: set AWS_REGION" "$T/err" || kb_fail "no-region message: $(cat "$T/err")"
kb_pass "profile credentials and region used for signing (moto, eu-west-3); wrong key rejected; no region explained"

# 3. Instance role through IMDSv2.
imds_start() {
	rm -f "$T/imds.port"
	python3 "$AWS_TESTDIR/imds.py" --port-file "$T/imds.port" --akid "$RAK" --secret "$RSK" --token "$RTOK" "$@" >"$T/imds.log" 2>&1 &
	local pid=$!
	kb_cleanup_add "kill $pid"
	IMDS_PID=$pid
	for i in $(seq 100); do [ -s "$T/imds.port" ] && break; sleep 0.05; done
	IMDS=http://127.0.0.1:$(cat "$T/imds.port")
}
imds_stat() { python3 -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1]+"/__imds/stats"))[sys.argv[2]])' "$IMDS" "$1"; }
rm -rf "$T/home/.aws"
# Temporary credentials of a moto role stand in for the instance role's.
read -r RAK RSK RTOK < <(python3 - "$MOTO_URL" "$AK" "$SK" <<'PY'
import sys, boto3
sts = boto3.client("sts", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
c = sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/keybroker-instance-role",
                    RoleSessionName="i-0123456789abcdef0")["Credentials"]
print(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
PY
)
[ -n "$RTOK" ] || kb_fail "AssumeRole on moto"
imds_start
imds() { env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_EC2_METADATA_DISABLED HOME="$T/home" AWS_EC2_METADATA_SERVICE_ENDPOINT=$IMDS AWS_REGION=us-east-1 "$@"; }
out=$(imds "$AWSSTORE_TOOL" creds) || kb_fail "imds credentials"
case $out in "imds $RAK token "[0-9]*) ;; *) kb_fail "imds creds: $out" ;; esac
[ "$(imds_stat rejected)" = 0 ] || kb_fail "IMDS rejected a request (IMDSv2 token missing?)"
imds "$AWSSTORE_TOOL" put keybroker/creds/imds "$T/v" >/dev/null || kb_fail "put with instance role"
[ "$(imds "$AWSSTORE_TOOL" get keybroker/creds/imds 2>/dev/null)" = x ] || kb_fail "get with instance role"
[ "$(imds_stat creds)" = 3 ] || kb_fail "long-lived role credentials fetched $(imds_stat creds) times for 3 commands"
kb_pass "IMDSv2 instance role (token, role, credentials) signs moto requests"
imds env AWS_EC2_METADATA_DISABLED=true "$AWSSTORE_TOOL" creds 2>"$T/err" && kb_fail "metadata not disabled"
grep -q "AWS_EC2_METADATA_DISABLED" "$T/err" || kb_fail "disabled message: $(cat "$T/err")"
kb_pass "AWS_EC2_METADATA_DISABLED honoured"

# Credentials close to expiry are refreshed before use.
kill "$IMDS_PID"
imds_start --expires-in 120
imds "$AWSSTORE_TOOL" put keybroker/creds/imds "$T/v" >/dev/null || kb_fail "put with expiring role creds"
n=$(imds_stat creds)
[ "$n" -ge 2 ] || kb_fail "expiring credentials not refreshed ($n fetches)"
kb_pass "credentials expiring within 5 minutes refreshed before each call ($n fetches for one put)"
kill "$IMDS_PID"
imds_start --no-role
imds "$AWSSTORE_TOOL" creds 2>"$T/err" && kb_fail "no role accepted"
grep -q "no instance role" "$T/err" || kb_fail "no-role message: $(cat "$T/err")"
imds env AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1 "$AWSSTORE_TOOL" creds 2>"$T/err" && kb_fail "dead IMDS accepted"
grep -q "no AWS credentials" "$T/err" || kb_fail "dead IMDS message: $(cat "$T/err")"
kb_pass "no role / no metadata service: clear errors"
exit 0
