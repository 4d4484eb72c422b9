#!/usr/bin/env bash
# broker rotate with the Vault KV v2 backend (the repository's Vault API
# emulator) against three real sshds: a rotation converges, a crash after
# set on host 2 and after promote converge on rerun, and the credential is
# the KV v2 secret a Vault client reads (static: targets, no certificate).
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/vault/lib.sh"
. "$KB_SOURCE_ROOT/tests/rotate/lib.sh"

kb_tmpdir D
rot_setup "$D" vault
vault_emulator_start "$D"
NHOSTS=3
rot_hosts "$D" $NHOSTS
rot_targets
CRED=keybroker/static/db

"$BROKER" static create db "${TARGETS[@]}" >/dev/null 2>"$D/err" || kb_fail "static create (vault): $(cat "$D/err")"
for i in 1 2 3; do "$BROKER" store get "$CRED" --field public_key >"$D/h$i/keys/$ME.keys"; done
"$BROKER" rotate --all "${HOSTOPTS[@]}" 2>"$D/err" || kb_fail "rotate (vault): $(cat "$D/err")"
rot_converged "vault rotation"
kb_pass "vault: a rotation converges"

for point in set:2 promote; do
	rc=0
	KEYBROKER_TEST_CRASH=$point "$BROKER" rotate --all "${HOSTOPTS[@]}" --parallel 1 >/dev/null 2>&1 || rc=$?
	[ "$rc" = 137 ] || kb_fail "vault crash at $point: exit $rc"
	rot_current_everywhere "vault crash at $point"
	"$BROKER" rotate --all "${HOSTOPTS[@]}" 2>"$D/err" || kb_fail "vault rerun after $point: $(cat "$D/err")"
	rot_converged "vault rerun after a crash at $point"
done
kb_pass "vault: crashes after set on host 2 and after promote converge"

vapi GET "secret/data/$CRED" >"$D/kv.json"
python3 - "$D/kv.json" <<'PY' || kb_fail "the Vault secret is not the static credential: $(head -c 300 "$D/kv.json")"
import json, sys
d = json.load(open(sys.argv[1]))["data"]["data"]
# The backend may wrap the value; find the credential document.
doc = d if "kind" in d else json.loads(d.get("value", "{}"))
assert doc["kind"] == "keybroker/ssh-credential/v1" and "certificate" not in doc, doc.keys()
assert len(doc["targets"]) == 3
PY
kb_pass "vault: a KV v2 client reads the rotated static credential"
