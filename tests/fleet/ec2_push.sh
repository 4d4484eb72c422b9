#!/bin/bash
# broker ec2 push: SigV4 accepted by moto_server with signature checking on,
# a wrong key refused; once per host per window; bounded parallel pushes;
# ThrottlingException retried; input validated before any request.
. "$KB_TESTLIB/common.sh"
set -e
HERE=$KB_SOURCE_ROOT/tests/fleet
kb_tmpdir T
export XDG_RUNTIME_DIR=$T/run HOME=$T/home
mkdir -p "$XDG_RUNTIME_DIR" "$HOME"
chmod 0700 "$XDG_RUNTIME_DIR"
unset AWS_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT
export AWS_EC2_METADATA_DISABLED=true AWS_REGION=eu-west-1 AWS_MAX_ATTEMPTS=5
ssh-keygen -q -t ed25519 -N '' -C push-test -f "$T/k"
I1=i-0123456789abcdef0

# --- moto_server with SigV4 checking (NOTES.md) ---
MPORT=$(kb_free_port)
moto_server -H 127.0.0.1 -p "$MPORT" >"$T/moto.log" 2>&1 &
kb_cleanup_add "kill $!"
kb_wait_port "$MPORT" 30 || kb_fail "moto_server did not start: $(tail -5 "$T/moto.log")"
read -r AKID SECRET < <(python3 "$KB_SOURCE_ROOT/tests/aws/moto_setup.py" "http://127.0.0.1:$MPORT")
[ -n "$SECRET" ] || kb_fail "moto setup"
M="env AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$SECRET AWS_ENDPOINT_URL=http://127.0.0.1:$MPORT"

$M "$BROKER" ec2 push --instance-id $I1 --os-user ec2-user --az eu-west-1a --key "$T/k.pub" --no-cache >"$T/out"
grep -q "pushed SHA256:" "$T/out" || kb_fail "moto push: $(cat "$T/out")"
if env AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=wrong-secret AWS_ENDPOINT_URL=http://127.0.0.1:$MPORT \
	"$BROKER" ec2 push --instance-id $I1 --os-user ec2-user --key "$T/k.pub" --no-cache >"$T/out" 2>"$T/err"; then
	kb_fail "push signed with a wrong secret accepted"
else
	rc=$?
fi
[ $rc -eq 5 ] || kb_fail "wrong secret: exit $rc, expected 5"
grep -q SignatureDoesNotMatch "$T/err" || kb_fail "wrong secret: message $(cat "$T/err")"
if env AWS_ACCESS_KEY_ID=AKIANOSUCHKEY0000000 AWS_SECRET_ACCESS_KEY=x AWS_ENDPOINT_URL=http://127.0.0.1:$MPORT \
	"$BROKER" ec2 push --instance-id $I1 --os-user ec2-user --key "$T/k.pub" --no-cache >/dev/null 2>"$T/err"; then
	kb_fail "unknown access key accepted"
fi
grep -q InvalidClientTokenId "$T/err" || kb_fail "unknown key: message $(cat "$T/err")"
kb_pass "moto_server (SigV4 checked) accepts the push; wrong and unknown keys are refused"

# --- the emulator: counts pushes, throttles on demand ---
"$HERE/eic_ca.sh" "$T/pki"
ids=()
for i in $(seq 1 20); do ids+=("i-$(printf '%017x' $((0xabc000 + i)))"); done
emu_args=()
for id in $I1 "${ids[@]}" i-0123456789abcdef1 i-0123456789abcdef2 i-1234abcd i-0fedcba9876543210 i-0fedcba9876543211; do
	emu_args+=(--instance-id "$id")
done
python3 "$HERE/eic_emulator.py" --ca-dir "$T/pki" "${emu_args[@]}" --port-file "$T/emu.port" 2>"$T/emu.log" &
kb_cleanup_add "kill $!"
for _ in $(seq 100); do [ -s "$T/emu.port" ] && break; sleep 0.05; done
EMU=http://127.0.0.1:$(cat "$T/emu.port")
export AWS_ACCESS_KEY_ID=AKIDEMULATOR AWS_SECRET_ACCESS_KEY=emulator AWS_ENDPOINT_URL=$EMU
pushes() { curl -sf "$EMU/_emu/pushes" | python3 -c 'import json,sys; print(len([p for p in json.load(sys.stdin) if not p.get("throttled")]))'; }
emu() { curl -sf -X POST --data "$2" "$EMU/_emu/$1" >/dev/null; }

# Once per window: the second push is answered from the cache.
"$BROKER" ec2 push --instance-id $I1 --os-user ec2-user --key "$T/k.pub" >"$T/out"
"$BROKER" ec2 push --instance-id $I1 --os-user ec2-user --key "$T/k.pub" >"$T/out2"
[ "$(pushes)" -eq 1 ] || kb_fail "pushed $(pushes) times within one window"
grep -q "not pushed again" "$T/out2" || kb_fail "cache: $(cat "$T/out2")"
# Another user, or --force: pushed.
"$BROKER" ec2 push --instance-id $I1 --os-user admin --key "$T/k.pub" >/dev/null
"$BROKER" ec2 push --instance-id $I1 --os-user ec2-user --key "$T/k.pub" --force >/dev/null
[ "$(pushes)" -eq 3 ] || kb_fail "expected 3 pushes, saw $(pushes)"
# A cache entry older than the window's safe part is pushed again.
sed -i "s/ \([0-9]*\)$/ $(( $(date +%s) - 50 ))/" "$XDG_RUNTIME_DIR/keybroker/ec2-push.cache"
"$BROKER" ec2 push --instance-id $I1 --os-user ec2-user --key "$T/k.pub" >/dev/null
[ "$(pushes)" -eq 4 ] || kb_fail "stale cache entry not re-pushed"
kb_pass "pushed once per host per window"

# Throttling: two ThrottlingException answers, then success.
emu reset '{}'
emu config '{"throttle": 2}'
"$BROKER" --json ec2 push --instance-id $I1 --os-user ec2-user --key "$T/k.pub" --no-cache >"$T/thr.json"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))[0]; assert r["status"]=="pushed" and r["attempts"]==3, r' "$T/thr.json"
# Throttled for longer than the attempts allow: a clear failure, exit 5.
emu config '{"throttle": 50}'
if AWS_MAX_ATTEMPTS=2 "$BROKER" ec2 push --instance-id $I1 --os-user ec2-user --key "$T/k.pub" --no-cache >/dev/null 2>"$T/err"; then
	kb_fail "push succeeded while throttled"
fi
grep -qi throttl "$T/err" || kb_fail "throttled: $(cat "$T/err")"
emu config '{"throttle": 0}'
kb_pass "ThrottlingException retried with backoff"

# Many hosts in parallel, bounded.
emu reset '{}'
args=()
for id in "${ids[@]}"; do args+=(--instance-id "$id"); done
start=$(date +%s%N)
"$BROKER" --json ec2 push "${args[@]}" --os-user ec2-user --key "$T/k.pub" --parallel 4 >"$T/many.json"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert len(r)==20 and all(x["status"]=="pushed" for x in r), r' "$T/many.json"
[ "$(pushes)" -eq 20 ] || kb_fail "20 hosts: $(pushes) pushes"
echo "# 20 pushes with --parallel 4: ${ms} ms"
# From a Terraform state, one group.
emu reset '{}'
"$BROKER" ec2 push --terraform-state "$HERE/tfstate/v4-modules.tfstate" --group tag_Role_web --os-user ec2-user \
	--key "$T/k.pub" --no-cache >"$T/tf.out"
[ "$(pushes)" -eq 3 ] && grep -q "^web-1: pushed" "$T/tf.out" || kb_fail "state group push: $(cat "$T/tf.out")"
kb_pass "parallel pushes and inventory groups"

# --role: the policy decides (role, principal, host, ec2_instance_connect).
ME=$(id -un)
cat >"$T/policy.json" <<JSON
{"version": 1, "roles": {
  "eic": {"requesters": {"users": ["$ME"]}, "principals": ["ec2-user"], "hosts": ["web-*"],
          "default_ttl": "5m", "max_ttl": "1h", "ec2_instance_connect": true},
  "noeic": {"requesters": {"users": ["$ME"]}, "principals": ["ec2-user"],
          "default_ttl": "5m", "max_ttl": "1h"}}}
JSON
emu reset '{}'
P="$BROKER --policy $T/policy.json"
$P ec2 push --terraform-state "$HERE/tfstate/v4-modules.tfstate" --group tag_Role_web --os-user ec2-user \
	--key "$T/k.pub" --role eic --no-cache >/dev/null || kb_fail "--role eic refused"
[ "$(pushes)" -eq 3 ] || kb_fail "--role eic: $(pushes) pushes"
set +e
$P ec2 push --terraform-state "$HERE/tfstate/v4-modules.tfstate" --group tag_Role_web --os-user admin \
	--key "$T/k.pub" --role eic --no-cache >/dev/null 2>"$T/err"; rc1=$?
$P ec2 push --instance-id $I1 --os-user ec2-user --key "$T/k.pub" --role eic --no-cache >/dev/null 2>>"$T/err"; rc2=$?
$P ec2 push --terraform-state "$HERE/tfstate/v4-modules.tfstate" --group tag_Role_web --os-user ec2-user \
	--key "$T/k.pub" --role noeic --no-cache >/dev/null 2>"$T/err3"; rc3=$?
set -e
[ $rc1 -eq 3 ] && [ $rc2 -eq 3 ] && [ $rc3 -eq 3 ] || kb_fail "--role denials: exits $rc1 $rc2 $rc3: $(cat "$T/err" "$T/err3")"
grep -q ec2_instance_connect "$T/err3" || kb_fail "noeic message: $(cat "$T/err3")"
[ "$(pushes)" -eq 3 ] || kb_fail "a denied push reached the service"
kb_pass "--role: the policy decides who may push what where"

# Validation before any request.
emu reset '{}'
bad() { if "$BROKER" ec2 push "$@" >/dev/null 2>"$T/err"; then kb_fail "accepted: $*"; fi; }
bad --instance-id i-123 --os-user ec2-user --key "$T/k.pub"
bad --instance-id i-0123456789ABCDEF0 --os-user ec2-user --key "$T/k.pub"
bad --instance-id $I1 --os-user 'root;id' --key "$T/k.pub"
bad --instance-id $I1 --os-user ec2-user --key "$T/k"
grep -q "private key" "$T/err" || kb_fail "private key message: $(cat "$T/err")"
bad --instance-id $I1 --os-user ec2-user --az nowhere --key "$T/k.pub"
bad --instance-id i-00000000000000000 --os-user ec2-user --key "$T/k.pub" --no-cache
[ "$(pushes)" -eq 0 ] || kb_fail "a request was sent for invalid input"
kb_pass "instance ids, user names, zones and keys validated first"
