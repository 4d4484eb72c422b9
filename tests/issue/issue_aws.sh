#!/usr/bin/env bash
# broker issue with the AWS Secrets Manager backend against moto_server
# with SigV4 checking on: the CA and the credential are secrets there,
# boto3 reads the stored credential, and its certificate logs in to sshd.
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/aws/lib.sh"
. "$(dirname "$0")/lib.sh"

aws_moto_start
kb_tmpdir D
issue_setup "$D" aws
issue_sshd "$D"

# The CA lives in Secrets Manager; boto3 sees it.
aws_py - "$D/ca.pub" <<'PY' || kb_fail "boto3 cannot read the CA secret"
import boto3, json, os, sys
sm = boto3.client("secretsmanager", region_name=os.environ["AWS_REGION"], endpoint_url=os.environ["AWS_ENDPOINT_URL"])
ca = json.loads(sm.get_secret_value(SecretId="keybroker/ca/user")["SecretString"])
assert ca["kind"] == "keybroker/ssh-ca/v1", ca["kind"]
assert open(sys.argv[1]).read().split()[1] == ca["public_key"].split()[1]
PY
kb_pass "CA stored in Secrets Manager"

ssh-agent -a "$D/agent.sock" -s >"$D/agent.env"
kb_cleanup_add "kill $(sed -n 's/SSH_AGENT_PID=\([0-9]*\);.*/\1/p' "$D/agent.env")"
"$BROKER" --json issue --role deploy --principal deploy --ttl 5m --agent "$D/agent.sock" --out "$D/saved" \
	>"$D/i.json" || kb_fail "issue with the aws backend"
[ "$(issue_json "$D/i.json" 'j["backend"]')" = aws ] || kb_fail "backend: $(cat "$D/i.json")"
SSH_AUTH_SOCK=$D/agent.sock kb_ssh "$ME@127.0.0.1" true || kb_fail "login with the aws-issued certificate"
kb_pass "issue (aws) into ssh-agent, login"

# boto3 reads the credential; its certificate and key log in as well.
aws_py - "$ME" "$D" "$(issue_json "$D/i.json" 'j["serial"]')" <<'PY' || kb_fail "boto3 read of the credential"
import boto3, json, os, sys
me, d, serial = sys.argv[1], sys.argv[2], int(sys.argv[3])
sm = boto3.client("secretsmanager", region_name=os.environ["AWS_REGION"], endpoint_url=os.environ["AWS_ENDPOINT_URL"])
v = sm.get_secret_value(SecretId="keybroker/deploy/" + me, VersionStage="AWSCURRENT")
c = json.loads(v["SecretString"])
assert c["kind"] == "keybroker/ssh-credential/v1"
assert c["serial"] == serial, (c["serial"], serial)
assert c["principals"] == ["deploy"] and c["role"] == "deploy" and c["requested_by"] == me
assert c["certificate"].split()[1] == open(d + "/saved-cert.pub").read().split()[1]
fd = os.open(d + "/boto-key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, c["private_key"].encode()); os.close(fd)
open(d + "/boto-key-cert.pub", "w").write(c["certificate"] + "\n")
PY
kb_ssh -o IdentitiesOnly=yes -i "$D/boto-key" "$ME@127.0.0.1" true || kb_fail "login with the key boto3 read"
kb_pass "boto3 reads the credential; it logs in"

# A denied request stores nothing in Secrets Manager.
set +e
"$BROKER" issue --role deploy --principal root --name denied-one --no-agent 2>"$D/d.err"; rc=$?
set -e
[ $rc = 3 ] || kb_fail "denied exit $rc"
aws_py - <<'PY' || kb_fail "a denied request created a secret"
import boto3, os
names = [s["Name"] for s in boto3.client("secretsmanager", region_name=os.environ["AWS_REGION"], endpoint_url=os.environ["AWS_ENDPOINT_URL"]).list_secrets()["SecretList"]]
assert not any("denied-one" in n for n in names), names
PY
tail -1 "$D/audit/audit.log" | grep -q '"decision":"deny"' || kb_fail "deny not audited"
"$BROKER" audit verify >/dev/null || kb_fail "audit verify"
kb_pass "aws: denied request stores nothing and is audited"
