#!/bin/bash
# broker issue --push-ec2 and broker ec2 push --role (without --key):
# issue under the policy, load the agent, push the issued key's public key
# with EC2 Instance Connect to every instance of a Terraform state.
#   - the EIC emulator records what it received: each instance once, the
#     plain public key of the issued credential, the role's principal;
#   - throttling is retried; a failing host leaves the credential issued,
#     exits non-zero and prints a retry command that works;
#   - a role without ec2_instance_connect (or not covering a host) refuses
#     before anything is issued: nothing stored, nothing in the agent,
#     nothing pushed, a deny line in the audit log;
#   - moto_server with SigV4 checking on accepts the same pushes (counted
#     by a proxy in front of it) and a throttled push is retried.
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/aws/lib.sh"
set -e
HERE=$KB_SOURCE_ROOT/tests/fleet
kb_tmpdir T
ME=$(id -un)
unset SSH_AUTH_SOCK BROKER_SOCKET BROKER_POLICY BROKER_BACKEND BROKER_STORE_DIR BROKER_AUDIT_LOG BROKER_TF_STATE \
	AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT
export HOME=$T/home XDG_RUNTIME_DIR=$T/run AWS_REGION=eu-west-1 AWS_MAX_ATTEMPTS=5
mkdir -p "$HOME" "$XDG_RUNTIME_DIR"
chmod 0700 "$XDG_RUNTIME_DIR"

cat >"$T/broker.conf" <<EOF
backend local
local.dir $T/store
audit.log $T/audit/audit.log
policy $T/policy.json
serve.socket $T/run/no-daemon.sock
EOF
export BROKER_CONFIG=$T/broker.conf
cat >"$T/policy.json" <<EOF
{"version": 1, "roles": {
  "eic":   {"requesters": {"users": ["$ME"]}, "principals": ["ec2-user", "admin"],
            "default_ttl": "5m", "max_ttl": "1h", "ec2_instance_connect": true},
  "web":   {"requesters": {"users": ["$ME"]}, "principals": ["ec2-user"], "hosts": ["web-*"],
            "default_ttl": "5m", "max_ttl": "1h", "ec2_instance_connect": true},
  "noeic": {"requesters": {"users": ["$ME"]}, "principals": ["ec2-user"],
            "default_ttl": "5m", "max_ttl": "1h"}}}
EOF
"$BROKER" policy lint "$T/policy.json" >/dev/null || kb_fail "test policy does not lint"
"$BROKER" ca init >/dev/null 2>&1 || kb_fail "ca init"

# A Terraform state: three web hosts (zones a, b, c) and a bastion.
W1=i-0a00000000000000a W2=i-0b00000000000000b W3=i-0c00000000000000c B=i-0d00000000000000d
python3 - "$T/tf.tfstate" "$W1" "$W2" "$W3" "$B" <<'PY'
import json, sys
out, w1, w2, w3, b = sys.argv[1:]
def inst(idx, iid, name, zone, role):
    return {"index_key": idx, "attributes": {"id": iid, "availability_zone": zone, "public_ip": "",
            "private_ip": "10.0.0.%d" % (idx if idx is not None else 9), "tags": {"Name": name, "Role": role}}}
state = {"version": 4, "terraform_version": "1.7.0", "serial": 1, "lineage": "t", "outputs": {}, "resources": [
    {"mode": "managed", "type": "aws_instance", "name": "web", "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
     "instances": [inst(0, w1, "web-a", "eu-west-1a", "web"), inst(1, w2, "web-b", "eu-west-1b", "web"),
                   inst(2, w3, "web-c", "eu-west-1c", "web")]},
    {"mode": "managed", "type": "aws_instance", "name": "bastion", "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
     "instances": [inst(None, b, "bastion", "eu-west-1a", "ops")]}]}
json.dump(state, open(out, "w"))
PY

# --- the EIC emulator ---
"$HERE/eic_ca.sh" "$T/pki"
python3 "$HERE/eic_emulator.py" --ca-dir "$T/pki" --instance-id "$W1" --instance-id "$W2" --instance-id "$W3" \
	--instance-id "$B" --port-file "$T/emu.port" 2>"$T/emu.log" &
EMU_PID=$!
kb_cleanup_add "kill $EMU_PID"
for _ in $(seq 100); do [ -s "$T/emu.port" ] && break; sleep 0.05; done
EMU=http://127.0.0.1:$(cat "$T/emu.port")
EMU_ENV="env AWS_ACCESS_KEY_ID=AKIDEMULATOR AWS_SECRET_ACCESS_KEY=emulator AWS_ENDPOINT_URL=$EMU"
emu() { curl -sf -X POST --data "$2" "$EMU/_emu/$1" >/dev/null || kb_fail "emulator control $1"; }
# The pushes the emulator accepted, as "instance user key-blob" lines, sorted.
pushes() {
	curl -sf "$EMU/_emu/pushes" | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if not p.get("throttled"):
        print(p["instance"], p["user"], p["key"].split()[1])' | sort
}
throttled() { curl -sf "$EMU/_emu/pushes" | python3 -c 'import json,sys; print(sum(1 for p in json.load(sys.stdin) if p.get("throttled")))'; }

ssh-agent -a "$T/agent.sock" -s >"$T/agent.env" || kb_fail "ssh-agent"
kb_cleanup_add "kill $(sed -n 's/SSH_AGENT_PID=\([0-9]*\);.*/\1/p' "$T/agent.env")"
export SSH_AUTH_SOCK=$T/agent.sock
store_count() { "$BROKER" store ls 2>/dev/null | grep -c . || true; }
audit_lines() { wc -l <"$T/audit/audit.log" 2>/dev/null || echo 0; }

# ---- 1. issue --push-ec2: every instance of the state, once ----
$EMU_ENV "$BROKER" --json issue --role eic --push-ec2 --terraform-state "$T/tf.tfstate" >"$T/i1.json" 2>"$T/i1.err" ||
	kb_fail "issue --push-ec2: $(cat "$T/i1.err")"
py() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
[ "$(py "$T/i1.json" '[h["status"] for h in j["ec2_push"]["hosts"]]')" = "['pushed', 'pushed', 'pushed', 'pushed']" ] ||
	kb_fail "per-host results: $(cat "$T/i1.json")"
[ "$(py "$T/i1.json" 'sorted(h["host"] for h in j["ec2_push"]["hosts"])')" = "['bastion', 'web-a', 'web-b', 'web-c']" ] ||
	kb_fail "hosts: $(cat "$T/i1.json")"
[ "$(py "$T/i1.json" 'j["ec2_push"]["os_user"]')" = ec2-user ] || kb_fail "os user is not the role's first principal"
# The plain key in the agent is the pushed one; the certificate is there too.
ssh-add -L >"$T/agent.pub"
grep -c -- '-cert-v01@openssh.com ' "$T/agent.pub" | grep -qx 1 || kb_fail "no certificate in the agent: $(cat "$T/agent.pub")"
plain=$(grep -v -- '-cert-v01@openssh.com ' "$T/agent.pub" | awk '{print $2}')
[ -n "$plain" ] && [ "$(echo "$plain" | wc -l)" = 1 ] || kb_fail "no single plain key in the agent: $(cat "$T/agent.pub")"
pushes >"$T/p1"
printf '%s ec2-user %s\n' "$B" "$plain" "$W1" "$plain" "$W2" "$plain" "$W3" "$plain" | sort >"$T/p1.want"
diff "$T/p1.want" "$T/p1" || kb_fail "the emulator did not receive exactly one push of the issued key per instance"
fp=$(py "$T/i1.json" 'j["ec2_push"]["public_key_fingerprint"]')
[ "$fp" = "$(py "$T/i1.json" 'j["fingerprint"]')" ] || kb_fail "pushed fingerprint differs from the issued key's"
grep -q '"event":"ec2-push"' "$T/audit/audit.log" || kb_fail "push not audited"
"$BROKER" audit verify "$T/audit/audit.log" >/dev/null || kb_fail "audit log does not verify"
kb_pass "issue --push-ec2: 4 instances of a Terraform state, each pushed once with the issued key"

# Text output and a group; --os-user from the role's principals.
emu reset '{}'
$EMU_ENV "$BROKER" issue --role eic --push-ec2 --terraform-state "$T/tf.tfstate" --group tag_Role_web \
	--os-user admin >"$T/i2.out" 2>"$T/i2.err" || kb_fail "group push: $(cat "$T/i2.err")"
grep -q "^issued $ME@eic#" "$T/i2.out" && grep -q "^web-b: pushed SHA256:" "$T/i2.out" ||
	kb_fail "text output: $(cat "$T/i2.out")"
[ "$(pushes | awk '{print $2}' | sort -u)" = admin ] && [ "$(pushes | wc -l)" = 3 ] || kb_fail "group push: $(pushes)"
# BROKER_TF_STATE when no instance is named; an --instance-id already in the
# state is pushed once; --instance-id alone ignores BROKER_TF_STATE.
emu reset '{}'
BROKER_TF_STATE=$T/tf.tfstate $EMU_ENV "$BROKER" issue --role eic --push-ec2 >/dev/null 2>"$T/err" ||
	kb_fail "BROKER_TF_STATE: $(cat "$T/err")"
[ "$(pushes | wc -l)" = 4 ] || kb_fail "BROKER_TF_STATE push count: $(pushes)"
emu reset '{}'
$EMU_ENV "$BROKER" issue --role eic --push-ec2 --terraform-state "$T/tf.tfstate" --instance-id "$W2" >/dev/null 2>"$T/err" ||
	kb_fail "state + id: $(cat "$T/err")"
[ "$(pushes | wc -l)" = 4 ] || kb_fail "state + duplicate id push count: $(pushes)"
emu reset '{}'
BROKER_TF_STATE=$T/tf.tfstate $EMU_ENV "$BROKER" issue --role eic --push-ec2 --instance-id "$W2" >/dev/null 2>"$T/err" ||
	kb_fail "id with BROKER_TF_STATE: $(cat "$T/err")"
[ "$(pushes | awk '{print $1}')" = "$W2" ] || kb_fail "--instance-id with BROKER_TF_STATE pushed: $(pushes)"
kb_pass "groups, --os-user, BROKER_TF_STATE, duplicate instances pushed once"

# ---- 2. throttling ----
emu reset '{}'
emu config '{"throttle": 3}'
$EMU_ENV "$BROKER" --json issue --role eic --push-ec2 --instance-id "$W1" --instance-id "$W2" >"$T/t.json" 2>"$T/t.err" ||
	kb_fail "throttled push failed: $(cat "$T/t.err")"
[ "$(throttled)" = 3 ] && [ "$(pushes | wc -l)" = 2 ] || kb_fail "throttling: $(throttled) throttled, $(pushes | wc -l) pushed"
[ "$(py "$T/t.json" 'sum(h["attempts"] for h in j["ec2_push"]["hosts"])')" = 5 ] || kb_fail "attempts: $(cat "$T/t.json")"
kb_pass "ThrottlingException retried (3 throttled answers, 2 hosts pushed)"

# Bounded parallelism: with each push taking 200 ms, --parallel 2 keeps two
# in flight at most (the emulator counts), and the 4 hosts take two rounds.
emu reset '{}'
emu config '{"delay_ms": 200}'
start=$(date +%s%N)
$EMU_ENV "$BROKER" issue --role eic --push-ec2 --terraform-state "$T/tf.tfstate" --parallel 2 >/dev/null 2>"$T/err" ||
	kb_fail "--parallel 2: $(cat "$T/err")"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
maxin=$(curl -sf "$EMU/_emu/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["max_inflight"])')
[ "$maxin" = 2 ] && [ "$(pushes | wc -l)" = 4 ] || kb_fail "--parallel 2: $maxin in flight at most, $(pushes | wc -l) pushes"
emu reset '{}'
$EMU_ENV "$BROKER" issue --role eic --push-ec2 --terraform-state "$T/tf.tfstate" --parallel 8 >/dev/null 2>"$T/err" ||
	kb_fail "--parallel 8: $(cat "$T/err")"
maxin8=$(curl -sf "$EMU/_emu/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["max_inflight"])')
[ "$maxin8" -ge 3 ] && [ "$maxin8" -le 4 ] || kb_fail "--parallel 8 over 4 hosts: $maxin8 in flight at most"
emu config '{"delay_ms": 0}'
echo "# 4 hosts, 200 ms each, --parallel 2: ${ms} ms, at most $maxin in flight (--parallel 8: $maxin8)"
kb_pass "parallel pushes bounded by --parallel"

# ---- 3. one host fails: the credential stays, exit non-zero, retry works ----
emu reset '{}'
GONE=i-0e00000000000000e
before=$(store_count)
set +e
$EMU_ENV "$BROKER" issue --role eic --push-ec2 --terraform-state "$T/tf.tfstate" --group tag_Role_web \
	--instance-id "$GONE" >"$T/f.out" 2>"$T/f.err"
rc=$?
set -e
[ $rc -ne 0 ] || kb_fail "a failed push exited 0"
[ "$(pushes | wc -l)" = 3 ] || kb_fail "the good hosts were not pushed: $(pushes)"
grep -q "1 of 4 hosts were not pushed: $GONE" "$T/f.err" || kb_fail "failed host not named: $(cat "$T/f.err")"
grep -q "stays issued" "$T/f.err" || kb_fail "no word about the credential: $(cat "$T/f.err")"
retry=$(grep -A1 "retry them with" "$T/f.err" | tail -1)
[ "$retry" = "  broker ec2 push --role eic --os-user ec2-user --instance-id $GONE" ] || kb_fail "retry command: '$retry'"
keyid=$(sed -n 's/^issued //p' "$T/f.out")
"$BROKER" store get "keybroker/eic/$ME" --field key_id 2>/dev/null | grep -qF "$keyid" ||
	kb_fail "the credential $keyid is not current in the store"
ssh-add -L | grep -q -- '-cert-v01@openssh.com' || kb_fail "the credential left the agent"
grep '"event":"ec2-push"' "$T/audit/audit.log" | tail -1 | grep -q "\"failed\":\[\"$GONE\"\]" ||
	kb_fail "partial push not audited: $(tail -1 "$T/audit/audit.log")"
# The printed retry, once the instance exists.
kill "$EMU_PID"
python3 "$HERE/eic_emulator.py" --ca-dir "$T/pki" --instance-id "$W1" --instance-id "$W2" --instance-id "$W3" \
	--instance-id "$B" --instance-id "$GONE" \
	--port-file "$T/emu2.port" 2>>"$T/emu.log" &
kb_cleanup_add "kill $!"
for _ in $(seq 100); do [ -s "$T/emu2.port" ] && break; sleep 0.05; done
EMU=http://127.0.0.1:$(cat "$T/emu2.port")
EMU_ENV="env AWS_ACCESS_KEY_ID=AKIDEMULATOR AWS_SECRET_ACCESS_KEY=emulator AWS_ENDPOINT_URL=$EMU"
# shellcheck disable=SC2086 # the printed command, word-split as a user would paste it
$EMU_ENV "$BROKER" ${retry#  broker } >"$T/r.out" 2>"$T/r.err" || kb_fail "the retry command failed: $(cat "$T/r.err")"
[ "$(pushes | awk '{print $1}')" = "$GONE" ] || kb_fail "retry pushed: $(pushes)"
kb_pass "a failed host: credential kept, exit $rc, named with a retry command that works"

# ---- 4. the gate: refused before anything is issued ----
emu reset '{}'
ssh-add -D >/dev/null 2>&1
before=$(store_count)
lines=$(audit_lines)
gate() { # expected-text args...
	local want=$1
	shift
	set +e
	$EMU_ENV "$BROKER" issue "$@" >"$T/g.out" 2>"$T/g.err"
	local rc=$?
	set -e
	[ $rc -eq 3 ] || kb_fail "issue $*: exit $rc, expected 3 (denied): $(cat "$T/g.err")"
	grep -q "$want" "$T/g.err" || kb_fail "issue $*: message $(cat "$T/g.err")"
}
gate ec2_instance_connect --role noeic --push-ec2 --terraform-state "$T/tf.tfstate"
gate "does not cover host bastion" --role web --push-ec2 --terraform-state "$T/tf.tfstate"
gate "principal" --role eic --push-ec2 --instance-id "$W1" --os-user root
[ "$(store_count)" = "$before" ] || kb_fail "a denied request stored something"
"$BROKER" store ls 2>/dev/null | grep -q "keybroker/noeic" && kb_fail "noeic credential stored"
[ -z "$(pushes)" ] || kb_fail "a denied request pushed: $(pushes)"
ssh-add -l >/dev/null 2>&1 && kb_fail "a denied request loaded the agent"
[ "$(audit_lines)" = $((lines + 3)) ] || kb_fail "expected 3 new audit lines, got $(( $(audit_lines) - lines ))"
tail -3 "$T/audit/audit.log" | grep -c '"decision":"deny".*"outcome":"denied".*"push_ec2":true' | grep -qx 3 ||
	kb_fail "deny lines: $(tail -3 "$T/audit/audit.log")"
tail -3 "$T/audit/audit.log" | head -1 | grep -q '"role":"noeic"' || kb_fail "deny line role"
"$BROKER" audit verify "$T/audit/audit.log" >/dev/null || kb_fail "audit log does not verify"
# The same role covering only web-*: its group is allowed.
$EMU_ENV "$BROKER" issue --role web --push-ec2 --terraform-state "$T/tf.tfstate" --group tag_Role_web >/dev/null 2>"$T/err" ||
	kb_fail "web role on its own hosts: $(cat "$T/err")"
[ "$(pushes | wc -l)" = 3 ] || kb_fail "web group push: $(pushes)"
kb_pass "gate: no ec2_instance_connect, uncovered host, wrong principal: exit 3, nothing stored/loaded/pushed, deny audited"
ssh-add -D >/dev/null 2>&1

# ---- 5. ec2 push --role without --key: issue, broker-agent, push ----
[ -x "$BROKER_AGENT" ] || kb_fail "BROKER_AGENT not set"
eval "$("$BROKER_AGENT" -a "$T/bagent.sock" -s)" >/dev/null
kb_cleanup_add "kill $SSH_AGENT_PID"
emu reset '{}'
$EMU_ENV "$BROKER" ec2 push --role eic --instance-id "$W1" --instance-id "$GONE" --ttl 2m >"$T/e.out" 2>"$T/e.err" ||
	kb_fail "ec2 push --role: $(cat "$T/e.err")"
grep -q "^issued $ME@eic#" "$T/e.out" && grep -q "^$GONE: pushed SHA256:" "$T/e.out" || kb_fail "output: $(cat "$T/e.out")"
ssh-add -L >"$T/bagent.pub"
plain=$(grep -v -- '-cert-v01@openssh.com ' "$T/bagent.pub" | awk '{print $2}')
[ -n "$plain" ] && grep -q -- '-cert-v01@openssh.com ' "$T/bagent.pub" || kb_fail "broker-agent: $(cat "$T/bagent.pub")"
printf '%s ec2-user %s\n' "$W1" "$plain" "$GONE" "$plain" | sort >"$T/e.want"
pushes | diff "$T/e.want" - || kb_fail "ec2 push --role: the pushed key is not the agent's plain key"
life=$(ssh-add -l | wc -l)
[ "$life" = 2 ] || kb_fail "expected the certificate and the plain key in broker-agent, got $life"
# Again under the same name: both identities replaced, not piled up.
$EMU_ENV "$BROKER" --json ec2 push --role eic --instance-id "$W1" >"$T/e2.json" 2>"$T/err" || kb_fail "second push: $(cat "$T/err")"
[ "$(ssh-add -l | wc -l)" = 2 ] || kb_fail "identities piled up: $(ssh-add -l)"
[ "$(py "$T/e2.json" 'j[0]["status"] + " " + j[0]["key_id"].split("#")[0]')" = "pushed $ME@eic" ] ||
	kb_fail "json: $(cat "$T/e2.json")"
# Without an agent: refused before anything happens.
n=$(store_count)
if SSH_AUTH_SOCK= $EMU_ENV "$BROKER" ec2 push --role eic --instance-id "$W1" >/dev/null 2>"$T/err"; then
	kb_fail "ec2 push --role without an agent succeeded"
fi
grep -q "no agent" "$T/err" || kb_fail "no-agent message: $(cat "$T/err")"
gate_ec2() {
	set +e
	$EMU_ENV "$BROKER" ec2 push "$@" >/dev/null 2>"$T/err"
	local rc=$?
	set -e
	[ $rc -eq 3 ] || kb_fail "ec2 push $*: exit $rc: $(cat "$T/err")"
}
gate_ec2 --role noeic --instance-id "$W1"
gate_ec2 --role web --terraform-state "$T/tf.tfstate"
[ "$(pushes | wc -l)" = 3 ] || kb_fail "denied ec2 push --role pushed: $(pushes)"
kb_pass "ec2 push --role without --key: issued into broker-agent (certificate + plain key) and pushed"
ssh-add -D >/dev/null 2>&1
export SSH_AUTH_SOCK=$T/agent.sock

# ---- 6. moto_server with SigV4 checking, through a counting proxy ----
aws_moto_start
export AWS_REGION=eu-west-1
aws_proxy_start ""
n_sent() { aws_proxy_log | grep -c "SendSSHPublicKey" || true; }
"$BROKER" --json issue --role eic --push-ec2 --terraform-state "$T/tf.tfstate" >"$T/m.json" 2>"$T/m.err" ||
	kb_fail "push to moto: $(cat "$T/m.err")"
[ "$(py "$T/m.json" '[h["status"] for h in j["ec2_push"]["hosts"]].count("pushed")')" = 4 ] || kb_fail "moto: $(cat "$T/m.json")"
[ "$(aws_proxy_log | grep SendSSHPublicKey | grep -c '^pass ')" = 4 ] || kb_fail "moto received: $(aws_proxy_log)"
aws_proxy_plan 'SendSSHPublicKey=throttle*2'
"$BROKER" --json issue --role eic --push-ec2 --instance-id "$W3" >"$T/m2.json" 2>"$T/m2.err" ||
	kb_fail "throttled push to moto: $(cat "$T/m2.err")"
[ "$(py "$T/m2.json" 'j["ec2_push"]["hosts"][0]["attempts"]')" = 3 ] || kb_fail "moto throttling: $(cat "$T/m2.json")"
# A wrong secret: moto refuses the signature; the credential is issued, the push fails with exit 5.
set +e
AWS_SECRET_ACCESS_KEY=wrong "$BROKER" issue --role eic --push-ec2 --instance-id "$W3" >/dev/null 2>"$T/m3.err"
rc=$?
set -e
[ $rc -eq 5 ] && grep -q SignatureDoesNotMatch "$T/m3.err" || kb_fail "wrong secret: exit $rc: $(cat "$T/m3.err")"
kb_pass "moto_server (SigV4 checked): 4 pushes received and accepted, throttling retried, a bad signature refused"
