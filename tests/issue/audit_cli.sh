#!/usr/bin/env bash
# broker audit verify on a log written by broker issue: intact passes;
# an edited, deleted, inserted or reordered line fails (exit 6) and names
# the line; keyed logs need the key.
. "$KB_TESTLIB/common.sh"
. "$(dirname "$0")/lib.sh"

kb_tmpdir D
issue_setup "$D"
"$BROKER" audit keygen "$D/audit.key" >/dev/null || kb_fail "audit keygen"
[ "$(stat -c %a "$D/audit.key")" = 600 ] || kb_fail "audit key mode"
if "$BROKER" audit keygen "$D/audit.key" 2>/dev/null; then kb_fail "audit keygen overwrote a key"; fi
echo "audit.key $D/audit.key" >>"$D/broker.conf"
for i in 1 2 3; do "$BROKER" issue --role deploy --no-agent >/dev/null || kb_fail "issue $i"; done
"$BROKER" issue --role deploy --principal root --no-agent 2>/dev/null && kb_fail "deny expected"
for i in 4 5; do "$BROKER" issue --role personal --no-agent >/dev/null || kb_fail "issue $i"; done
LOG=$D/audit/audit.log
[ "$(wc -l <"$LOG")" = 6 ] || kb_fail "expected 6 audit lines, have $(wc -l <"$LOG")"
"$BROKER" audit verify >"$D/ok.out" || kb_fail "intact log: $(cat "$D/ok.out")"
grep -q "6 entries, chain intact (keyed)" "$D/ok.out" || kb_fail "verify output: $(cat "$D/ok.out")"
if grep -q "PRIVATE KEY" "$LOG"; then kb_fail "private key in the audit log"; fi
for f in time requester role decision rule principals ttl serial key_id fingerprint backend secret prev hash; do
	sed -n 1p "$LOG" | grep -q "\"$f\":" || kb_fail "audit line lacks $f"
done

check() { # name expected-line file
	local rc
	set +e
	"$BROKER" audit verify "$3" >"$D/$1.out" 2>&1
	rc=$?
	set -e
	[ $rc = 6 ] || kb_fail "$1: verify exit $rc, expected 6: $(cat "$D/$1.out")"
	head -1 "$D/$1.out" | grep -q "^$3:$2: " || kb_fail "$1: first problem not at line $2: $(cat "$D/$1.out")"
	kb_pass "$1 detected at line $2: $(head -1 "$D/$1.out" | cut -d: -f3-)"
}
sed '3s/"decision":"allow"/"decision":"deny"/' "$LOG" >"$D/edited.log"
cmp -s "$LOG" "$D/edited.log" && kb_fail "edit did not change the log"
check edited 3 "$D/edited.log"
sed '4d' "$LOG" >"$D/deleted.log"
check deleted 4 "$D/deleted.log"
sed -n '1,2p;2p;3,$p' "$LOG" >"$D/inserted.log"
check inserted 3 "$D/inserted.log"
{ sed -n 1p "$LOG"; sed -n 3p "$LOG"; sed -n 2p "$LOG"; sed -n '4,$p' "$LOG"; } >"$D/reordered.log"
check reordered 2 "$D/reordered.log"
# A forged line with a recomputed unkeyed hash is still caught (keyed log).
python3 - "$LOG" "$D/forged.log" <<'PY'
import hashlib, json, sys
lines = open(sys.argv[1]).read().splitlines()
e = json.loads(lines[4]); e["requester"] = "mallory"; del e["hash"]
e["alg"] = "blake2b-256"
body = json.dumps(e, sort_keys=True, separators=(",", ":"))
prev = bytes.fromhex(e["prev"])
h = hashlib.blake2b(b"keybroker-audit-v1\0" + prev + body[:-1].encode(), digest_size=32).hexdigest()
lines[4] = body[:-1] + ',"hash":"%s"}' % h
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
PY
check forged 5 "$D/forged.log"
# Without the key a keyed log cannot be checked.
set +e
"$BROKER" audit verify --key /dev/null "$LOG" >/dev/null 2>&1; rc1=$?
set -e
[ $rc1 != 0 ] || kb_fail "verify with an empty key passed"
"$BROKER" --json audit verify >"$D/v.json" || kb_fail "json verify"
[ "$(issue_json "$D/v.json" 'j["entries"]')" = 6 ] || kb_fail "json verify: $(cat "$D/v.json")"
