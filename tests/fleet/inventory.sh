#!/bin/bash
# broker inventory: several state shapes through the CLI and through real
# ansible-inventory / ansible via the executable shim.
. "$KB_TESTLIB/common.sh"
set -e
S=$KB_SOURCE_ROOT/tests/fleet/tfstate
SHIM=$KB_SOURCE_ROOT/contrib/ansible/keybroker_inventory.sh
kb_tmpdir T

# --list on the module/count/for_each state, checked field by field.
"$BROKER" inventory --terraform-state "$S/v4-modules.tfstate" --list --user deploy >"$T/list.json"
python3 - "$T/list.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
hv = d["_meta"]["hostvars"]
assert sorted(d["ec2"]["hosts"]) == sorted(hv), d["ec2"]
assert len(hv) == 6, sorted(hv)
assert d["az_eu_west_1a"]["hosts"] == ["web-0", "i-0fedcba9876543210"], d["az_eu_west_1a"]
assert d["tag_Role_web"]["hosts"] == ["web-0", "web-1", "web-2"]
assert hv["web-0"]["ansible_host"] == "54.10.0.1"          # public IP
assert hv["web-1"]["ansible_host"] == "10.0.2.10"          # no public IP: private
assert hv["web-1"]["ec2_availability_zone"] == "eu-west-1b"
assert hv["web-2"]["ec2_tags"]["Environment"] == "prod"
assert all(v["ansible_user"] == "deploy" for v in hv.values())
assert hv["i-0fedcba9876543211"]["ec2_resource_address"] == 'module.db.aws_instance.node["replica"]'
PY
kb_pass "list on a v4 state with modules, count and for_each"

# --host, and the same document from stdin.
"$BROKER" inventory --terraform-state "$S/show.json" --host backup >"$T/host.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ec2_instance_id"]=="i-0fedcba9876543299" and d["ansible_host"]=="54.10.0.99", d' "$T/host.json"
"$BROKER" inventory --terraform-state - --list <"$S/show.json" | grep -q '"module.db.module.backup.aws_instance.this"'
BROKER_TF_STATE=$S/show.json "$BROKER" inventory --list | grep -q '"az_eu_west_1c"'
if "$BROKER" inventory --terraform-state "$S/show.json" --host nosuch >"$T/out" 2>"$T/err"; then kb_fail "unknown host accepted"; fi
kb_pass "--host, stdin and BROKER_TF_STATE"

# Empty shapes give a valid, empty inventory.
for f in v4-empty.tfstate v4-no-instances.tfstate show-empty.json; do
	"$BROKER" inventory --terraform-state "$S/$f" >"$T/empty.json"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["_meta"]["hostvars"]=={} and d["ec2"]["hosts"]==[], d' "$T/empty.json"
done
kb_pass "states without instances"

# Unsupported and malformed: one clear line on stderr, nothing on stdout, non-zero.
for f in v3.tfstate v5.tfstate malformed-truncated.tfstate malformed-types.tfstate malformed-duplicate.tfstate malformed-array.tfstate /nonexistent.tfstate; do
	case $f in /*) p=$f ;; *) p=$S/$f ;; esac
	if "$BROKER" inventory --terraform-state "$p" >"$T/out" 2>"$T/err"; then kb_fail "$f accepted"; fi
	[ ! -s "$T/out" ] || kb_fail "$f: something on stdout"
	[ "$(wc -l <"$T/err")" -eq 1 ] || kb_fail "$f: error is not one line: $(cat "$T/err")"
done
grep -q "version 3" <(2>&1 "$BROKER" inventory --terraform-state "$S/v3.tfstate" || true) || kb_fail "v3 message"
if "$BROKER" inventory >/dev/null 2>"$T/err"; then kb_fail "no state accepted"; fi
grep -q BROKER_TF_STATE "$T/err" || kb_fail "missing-state message does not say what to do"
if "$BROKER" inventory --terraform-state "$S/show.json" --user 'a;b' >/dev/null 2>&1; then kb_fail "bad user accepted"; fi
kb_pass "clear errors for unsupported and malformed states"

# --role: ansible_user is the role's first principal ({{requester}} expanded).
cat >"$T/policy.json" <<'JSON'
{"version": 1, "roles": {
  "deploy": {"requesters": {"users": ["*"]}, "principals": ["deploy", "ubuntu"], "default_ttl": "5m", "max_ttl": "1h"},
  "mine": {"requesters": {"users": ["*"]}, "principals": ["{{requester}}"], "default_ttl": "5m", "max_ttl": "1h"}}}
JSON
u=$("$BROKER" --policy "$T/policy.json" inventory --terraform-state "$S/show.json" --role deploy --host web-0 |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["ansible_user"])')
[ "$u" = deploy ] || kb_fail "--role deploy gave ansible_user '$u'"
u=$("$BROKER" --policy "$T/policy.json" inventory --terraform-state "$S/show.json" --role mine --host web-0 |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["ansible_user"])')
[ "$u" = "$(id -un)" ] || kb_fail "--role mine gave ansible_user '$u'"
if "$BROKER" --policy "$T/policy.json" inventory --terraform-state "$S/show.json" --role nosuch >/dev/null 2>&1; then
	kb_fail "unknown role accepted"
fi
kb_pass "ansible_user from the role's principal"

# Real ansible-core reads it through the shim.
export BROKER BROKER_TF_STATE=$S/v4-modules.tfstate BROKER_ANSIBLE_USER=deploy
export ANSIBLE_INVENTORY_UNPARSED_FAILED=true ANSIBLE_LOCAL_TEMP=$T/ansible-tmp ANSIBLE_HOME=$T/ansible-home
ansible-inventory -i "$SHIM" --list >"$T/ai.json"
python3 - "$T/ai.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
hv = d["_meta"]["hostvars"]
assert set(d["az_eu_west_1b"]["hosts"]) == {"web-1", "i-0fedcba9876543211"}, d["az_eu_west_1b"]
assert hv["web-2"]["ansible_host"] == "10.0.3.10" and hv["web-2"]["ansible_user"] == "deploy"
assert "tag_Role_db" in d["all"]["children"]
PY
ansible -i "$SHIM" --list-hosts 'tag_Role_web:&az_eu_west_1a' >"$T/hosts"
grep -q 'hosts (1)' "$T/hosts" && grep -q 'web-0' "$T/hosts" || kb_fail "ansible host pattern: $(cat "$T/hosts")"
BROKER_TF_STATE=$S/v3.tfstate
if ansible-inventory -i "$SHIM" --list >/dev/null 2>"$T/err"; then kb_fail "ansible accepted a v3 state"; fi
grep -q "version 3" "$T/err" || kb_fail "ansible did not show the broker's error"
kb_pass "ansible-inventory and ansible through the shim"
