#!/usr/bin/env bash
# The sharded revocation record on Vault KV v2 (tests/vault/vault_emulator.py):
# concurrent batch revokers that seal shards and single revokers lose
# nothing, publish sees every entry, ssh-keygen -Q agrees, prune works.
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/vault/lib.sh"
. "$KB_SOURCE_ROOT/tests/issue/lib.sh"

kb_tmpdir D
vault_emulator_start "$D"
issue_setup "$D" vault
KRL=$D/revoked.krl
"$BROKER" krl publish -f "$KRL" 2>"$D/err" || kb_fail "first publish (vault): $(cat "$D/err")"
"$BROKER" --json issue --role deploy --principal deploy --ttl 30m --name v1 --no-agent --out "$D/v1" >/dev/null \
	2>"$D/err" || kb_fail "issue (vault): $(cat "$D/err")"
python3 -c 'import random; r=random.Random(13); print("\n".join(str(r.randrange(1,2**63)) for _ in range(1404)))' >"$D/serials"
pids=()
for i in 0 1; do
	# shellcheck disable=SC2046
	"$BROKER" -q revoke --no-agent $(sed -n "$((i * 700 + 1)),$((i * 700 + 700))p" "$D/serials" | sed 's/^/--serial /') \
		2>"$D/err-b$i" &
	pids+=($!)
done
for s in $(sed -n '1401,1404p' "$D/serials"); do
	"$BROKER" -q revoke --no-agent --serial "$s" 2>"$D/err-s$s" &
	pids+=($!)
done
"$BROKER" -q revoke --no-agent --cert "$D/v1-cert.pub" 2>"$D/err-v1" &
pids+=($!)
for p in "${pids[@]}"; do wait "$p" || kb_fail "a concurrent revoke failed (vault): $(cat "$D"/err-*)"; done
"$BROKER" --json krl publish -f "$KRL" >"$D/pub.json" 2>"$D/err" || kb_fail "publish (vault): $(cat "$D/err")"
[ "$(issue_json "$D/pub.json" 'j["entries"]')" = 1405 ] || kb_fail "entries lost (vault): $(cat "$D/pub.json")"
"$BROKER" store get keybroker/revocations >"$D/head.json" || kb_fail "store get (vault)"
[ "$(issue_json "$D/head.json" 'len(j["shards"])')" -ge 2 ] || kb_fail "no shards on vault: $(head -c 300 "$D/head.json")"
rc=0; ssh-keygen -Q -f "$KRL" "$D/v1-cert.pub" >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || kb_fail "ssh-keygen -Q does not report the revoked certificate (vault)"
ssh-keygen -Q -l -f "$KRL" | grep -ci serial >"$D/n"
[ "$(cat "$D/n")" -ge 1405 ] || kb_fail "KRL lists $(cat "$D/n") serials"
"$BROKER" --json revoke --prune --dry-run >"$D/dry.json" 2>"$D/err" || kb_fail "prune --dry-run (vault): $(cat "$D/err")"
[ "$(issue_json "$D/dry.json" 'j["dropped_count"]')" = 0 ] || kb_fail "prune would drop valid entries: $(cat "$D/dry.json")"
kb_pass "vault: concurrent batch and single revokers over shards, 1405 entries published, ssh-keygen -Q agrees"
