#!/usr/bin/env bash
# The sharded revocation record through the CLI on the local backend:
# - 3000 serials in one batch plus concurrent revokers (batches and single
#   ones): nothing lost, the record spans several shards;
# - the published KRL: a revoked, still-valid certificate (its serial in a
#   sealed shard) is refused by a real sshd, ssh-keygen -Q agrees, and
#   ssh-keygen -k builds the same revocations from a spec file;
# - a v1 document (the old single secret) is read, then migrated by the
#   first write without losing an entry;
# - --prune drops an expired certificate's revocation (never a valid one,
#   one without a recorded expiry, or a key revocation), --dry-run writes
#   nothing, it is audited;
# - after a CA rotation, --serial revokes under every CA in the bundle: a
#   still-valid certificate of the previous CA is refused by sshd.
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/issue/lib.sh"

kb_tmpdir D
issue_setup "$D"
KRL=$D/revoked.krl
"$BROKER" krl publish -f "$KRL" 2>"$D/err" || kb_fail "first publish: $(cat "$D/err")"
mkdir -p "$D/sshd"
echo deploy >"$D/sshd/principals"
"$BROKER" ca show --bundle >"$D/trusted" || kb_fail "ca show --bundle"
kb_sshd_start "$D/sshd" "TrustedUserCAKeys $D/trusted" "RevokedKeys $KRL" \
	"AuthorizedPrincipalsFile $D/sshd/principals"
login() { kb_ssh -o IdentitiesOnly=yes -i "$1" "$ME@127.0.0.1" true 2>/dev/null; }
issue() {
	"$BROKER" --json issue --role deploy --principal deploy --ttl 30m --name "$1" --no-agent --out "$D/$1" \
		>"$D/$1.json" 2>"$D/err" || kb_fail "issue $1: $(cat "$D/err")"
}
serial_of() { ssh-keygen -L -f "$1" | sed -n 's/.*Serial: \([0-9]*\)/\1/p'; }
revoked_by_keygen() { # KRL CERT: ssh-keygen -Q exits 1 when revoked
	local rc=0
	ssh-keygen -Q -f "$1" "$2" >/dev/null 2>&1 || rc=$?
	[ "$rc" = 1 ]
}
head_json() { "$BROKER" store get keybroker/revocations >"$D/head.json" || kb_fail "store get revocations"; }
serial_args() { sed 's/^/--serial /' "$1" | tr '\n' ' '; }

for n in victim ok1; do issue $n; done
login "$D/victim" || kb_fail "victim does not log in before revocation: $(tail -3 "$SSHD_LOG")"
VICTIM=$(serial_of "$D/victim-cert.pub")

# ---- 3000 serials in one batch, the victim's in the middle ----
python3 - "$VICTIM" >"$D/batch" <<'PY'
import random, sys
r = random.Random(7)
s = [r.randrange(1, 2**63) for _ in range(3000)]
s[1500] = int(sys.argv[1])
print("\n".join(map(str, s)))
PY
# shellcheck disable=SC2046
"$BROKER" --json revoke $(serial_args "$D/batch") --reason bulk >"$D/batch.json" 2>"$D/err" ||
	kb_fail "batch revoke: $(cat "$D/err")"
[ "$(issue_json "$D/batch.json" 'sum(1 for t in j["revoked"] if not t["already_revoked"])')" = 3000 ] ||
	kb_fail "batch: not 3000 added"
head_json
NSH=$(issue_json "$D/head.json" 'len(j["shards"])')
[ "$NSH" -ge 3 ] || kb_fail "3000 entries should span several shards, got $NSH"
[ "$(issue_json "$D/head.json" 'j["kind"]')" = keybroker/revocations/v2 ] || kb_fail "head kind"
"$BROKER" revoke --serial "$VICTIM" 2>"$D/err" || kb_fail "revoke again: $(cat "$D/err")"
grep -q "already revoked" "$D/err" || kb_fail "a serial in a sealed shard not found again: $(cat "$D/err")"
kb_pass "3000 serials in one batch: $NSH shards, a repeat is found in a sealed shard"

# ---- concurrent revokers: four batches of 250 and eight single ones ----
python3 - >"$D/conc" <<'PY'
import random
r = random.Random(11)
print("\n".join(str(r.randrange(1, 2**63)) for _ in range(1008)))
PY
pids=()
for i in 0 1 2 3; do
	sed -n "$((i * 250 + 1)),$((i * 250 + 250))p" "$D/conc" >"$D/conc.$i"
done
# as arguments, from a file (with a comment and a blank line), from stdin
# shellcheck disable=SC2046
"$BROKER" -q revoke $(serial_args "$D/conc.0") 2>"$D/err-c0" &
pids+=($!)
"$BROKER" -q revoke --serial "$(head -1 "$D/conc.1")" --serials-from "$D/conc.1" 2>"$D/err-c1" &
pids+=($!)
{ echo "# incident 42"; echo; cat "$D/conc.2"; } >"$D/conc.2c"
"$BROKER" -q revoke --serials-from "$D/conc.2c" 2>"$D/err-c2" &
pids+=($!)
"$BROKER" -q revoke --serials-from - <"$D/conc.3" 2>"$D/err-c3" &
pids+=($!)
for s in $(sed -n '1001,1008p' "$D/conc"); do
	"$BROKER" -q revoke --serial "$s" 2>"$D/err-s$s" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || kb_fail "a concurrent revoke failed: $(cat "$D"/err-[cs]*)"; done
"$BROKER" --json krl publish -f "$KRL" >"$D/pub.json" 2>"$D/err" || kb_fail "publish: $(cat "$D/err")"
[ "$(issue_json "$D/pub.json" 'j["entries"]')" = 4008 ] || kb_fail "entries lost: $(cat "$D/pub.json")"
# every serial is in the KRL: ssh-keygen lists it
ssh-keygen -Q -l -f "$KRL" >"$D/krl.txt" 2>&1 || kb_fail "ssh-keygen cannot list our KRL"
python3 - "$D/krl.txt" "$D/batch" "$D/conc" <<'PY' || kb_fail "a revoked serial is missing from the KRL"
import re, sys
listed = set()
for l in open(sys.argv[1]):
    m = re.match(r"\s*serial:\s*(\d+)(?:-(\d+))?", l)
    if m:
        lo = int(m.group(1)); hi = int(m.group(2) or lo)
        listed.update(range(lo, hi + 1)) if hi - lo < 10 else listed.update((lo, hi))
want = set(int(x) for f in sys.argv[2:] for x in open(f).read().split())
missing = want - listed
assert not missing, sorted(missing)[:5]
PY
kb_pass "4 concurrent batches and 8 concurrent single revokers: all 4008 in the published KRL"
head_json
cp "$D/head.json" "$D/head.before"
printf '12\nnot-a-serial\n' >"$D/bad.serials"
rc=0; "$BROKER" revoke --serials-from "$D/bad.serials" 2>"$D/err" || rc=$?
[ "$rc" = 2 ] && [ "$(wc -l <"$D/err")" = 1 ] && grep -q "bad.serials:2: not a serial" "$D/err" ||
	kb_fail "bad --serials-from: exit $rc: $(cat "$D/err")"
head_json
cmp -s "$D/head.json" "$D/head.before" || kb_fail "a bad --serials-from file changed the record"
kb_pass "--serials-from (file, comments, stdin); a bad line: one-line error naming it, exit 2, nothing written"

# ---- sshd and ssh-keygen ----
login "$D/victim" && kb_fail "revoked, still-valid certificate accepted by sshd"
grep -qi revoked "$SSHD_LOG" || kb_fail "sshd log does not mention revocation"
login "$D/ok1" || kb_fail "ok1 refused although not revoked"
revoked_by_keygen "$KRL" "$D/victim-cert.pub" || kb_fail "ssh-keygen -Q does not report the victim revoked"
revoked_by_keygen "$KRL" "$D/ok1-cert.pub" && kb_fail "ssh-keygen -Q reports ok1 revoked"
# ssh-keygen -k from a spec of the same serials revokes the same set
sed 's/^/serial: /' "$D/batch" "$D/conc" >"$D/spec"
ssh-keygen -k -f "$D/keygen.krl" -s "$D/ca.pub" "$D/spec" 2>"$D/err" || kb_fail "ssh-keygen -k: $(cat "$D/err")"
ssh-keygen -Q -l -f "$D/keygen.krl" >"$D/keygen.txt" 2>&1
[ "$(grep -ci serial "$D/keygen.txt")" -ge 4000 ] || kb_fail "ssh-keygen -Q -l lists no serials: $(head -5 "$D/keygen.txt")"
diff <(grep -i serial "$D/krl.txt" | sort) <(grep -i serial "$D/keygen.txt" | sort) >/dev/null ||
	kb_fail "our KRL and ssh-keygen's list different serials"
revoked_by_keygen "$D/keygen.krl" "$D/victim-cert.pub" || kb_fail "ssh-keygen's own KRL does not revoke the victim"
rc=0; "$BROKER" krl check "$D/keygen.krl" "$D/victim-cert.pub" >/dev/null 2>&1 || rc=$?
[ "$rc" = 6 ] || kb_fail "broker krl check does not find the victim in ssh-keygen's KRL (exit $rc)"
rc=0; "$BROKER" krl check "$D/keygen.krl" "$D/ok1-cert.pub" >/dev/null 2>&1 || rc=$?
[ "$rc" = 0 ] || kb_fail "broker krl check reports ok1 revoked in ssh-keygen's KRL (exit $rc)"
kb_pass "sshd refuses the revoked certificate, ssh-keygen -Q agrees, ssh-keygen -k lists the same serials, we read its KRL"

# ---- prune ----
"$BROKER" store get keybroker/ca/user --field private_key >"$D/ca.key" || kb_fail "CA key"
chmod 600 "$D/ca.key"
ssh-keygen -q -t ed25519 -N '' -f "$D/old" </dev/null
ssh-keygen -q -s "$D/ca.key" -I expired -n deploy -z 4242 -V 20200101:20200102 "$D/old.pub" ||
	kb_fail "sign expired cert"
ssh-keygen -q -t ed25519 -N '' -f "$D/plain" </dev/null
issue valid1
"$BROKER" revoke --cert "$D/old-cert.pub" 2>"$D/err" || kb_fail "revoke --cert expired: $(cat "$D/err")"
"$BROKER" revoke --cert "$D/valid1-cert.pub" 2>"$D/err" || kb_fail "revoke --cert valid: $(cat "$D/err")"
"$BROKER" revoke --key "$D/plain.pub" 2>"$D/err" || kb_fail "revoke --key: $(cat "$D/err")"
rc=0; "$BROKER" revoke --cert "$D/plain.pub" 2>"$D/err" || rc=$?
[ "$rc" != 0 ] && grep -q "not a certificate" "$D/err" || kb_fail "--cert with a plain key: $(cat "$D/err")"
head_json
cp "$D/head.json" "$D/head.before"
"$BROKER" --json revoke --prune --dry-run >"$D/dry.json" 2>"$D/err" || kb_fail "prune --dry-run: $(cat "$D/err")"
[ "$(issue_json "$D/dry.json" 'j["dropped_count"]')" = 1 ] || kb_fail "dry run: $(cat "$D/dry.json")"
[ "$(issue_json "$D/dry.json" 'j["dropped"][0]["serial"]')" = 4242 ] || kb_fail "dry run dropped the wrong one"
head_json
cmp -s "$D/head.json" "$D/head.before" || kb_fail "--dry-run changed the record"
grep -q revoke-prune "$D/audit/audit.log" && kb_fail "--dry-run was audited as a prune"
"$BROKER" --json revoke --prune >"$D/prune.json" 2>"$D/err" || kb_fail "prune: $(cat "$D/err")"
[ "$(issue_json "$D/prune.json" 'j["dropped_count"]')" = 1 ] || kb_fail "prune: $(cat "$D/prune.json")"
[ "$(issue_json "$D/prune.json" 'j["kept"]')" = 4010 ] || kb_fail "prune kept: $(cat "$D/prune.json")"
grep -q '"event":"revoke-prune"' "$D/audit/audit.log" || kb_fail "prune not audited"
"$BROKER" krl publish -f "$KRL" 2>"$D/err" || kb_fail "publish after prune: $(cat "$D/err")"
revoked_by_keygen "$KRL" "$D/old-cert.pub" && kb_fail "the expired certificate is still in the KRL"
revoked_by_keygen "$KRL" "$D/valid1-cert.pub" || kb_fail "prune dropped a still-valid certificate"
revoked_by_keygen "$KRL" "$D/plain.pub" || kb_fail "prune dropped a key revocation"
revoked_by_keygen "$KRL" "$D/victim-cert.pub" || kb_fail "prune dropped the victim"
"$BROKER" audit verify "$D/audit/audit.log" >/dev/null 2>"$D/err" || kb_fail "audit verify: $(cat "$D/err")"
"$BROKER" --json revoke --list >"$D/list.json" 2>"$D/err" || kb_fail "revoke --list: $(cat "$D/err")"
[ "$(issue_json "$D/list.json" 'j["count"]')" = 4010 ] || kb_fail "--list count: $(head -c 300 "$D/list.json")"
[ "$(issue_json "$D/list.json" 'sum(1 for e in j["entries"] if e.get("serial") == "'"$VICTIM"'")')" = 1 ] ||
	kb_fail "--list: the victim not listed once"
"$BROKER" revoke --list 2>/dev/null | grep -q "serial $VICTIM ca SHA256:" || kb_fail "--list text lacks the victim"
kb_pass "--prune drops only the expired certificate; --dry-run writes nothing; audited; --list shows the rest"

# ---- CA rotation: a serial of the previous CA is revoked too ----
issue oldca
"$BROKER" ca rotate --overlap 2h >/dev/null 2>"$D/err" || kb_fail "ca rotate: $(cat "$D/err")"
"$BROKER" ca promote >/dev/null 2>"$D/err" || kb_fail "ca promote: $(cat "$D/err")"
"$BROKER" ca show --bundle >"$D/trusted" || kb_fail "ca show --bundle"
[ "$(grep -c . "$D/trusted")" = 2 ] || kb_fail "bundle during the overlap: $(cat "$D/trusted")"
login "$D/oldca" || kb_fail "the previous CA's certificate does not log in during the overlap"
"$BROKER" --json revoke --serial "$(serial_of "$D/oldca-cert.pub")" >"$D/rot.json" 2>"$D/err" ||
	kb_fail "revoke after rotation: $(cat "$D/err")"
[ "$(issue_json "$D/rot.json" 'len(j["revoked"])')" = 2 ] || kb_fail "not revoked under both CAs: $(cat "$D/rot.json")"
"$BROKER" krl publish -f "$KRL" 2>"$D/err" || kb_fail "publish: $(cat "$D/err")"
revoked_by_keygen "$KRL" "$D/oldca-cert.pub" || kb_fail "ssh-keygen -Q: the previous CA's certificate not revoked"
login "$D/oldca" && kb_fail "the previous CA's revoked certificate accepted by sshd"
kb_pass "after ca rotate + promote, --serial revokes under both CAs; sshd refuses the old CA's certificate"

# ---- migration from a v1 document ----
kb_tmpdir M
issue_setup "$M"
CA=$(cat "$M/ca.pub")
python3 - "$CA" >"$M/v1.json" <<'PY'
import json, sys
ca = sys.argv[1].strip()
print(json.dumps({"kind": "keybroker/revocations/v1", "krl_version": 5,
                  "entries": [{"ca": ca, "serial": str(1000 + i), "time": "2026-01-01T00:00:00Z",
                               "requester": "old", "reason": "v1"} for i in range(300)]}))
PY
"$BROKER" store put keybroker/revocations --from-file "$M/v1.json" >/dev/null 2>"$D/err" || kb_fail "store put v1: $(cat "$D/err")"
"$BROKER" --json krl publish -f "$M/a.krl" >"$M/pub.json" 2>"$D/err" || kb_fail "publish v1: $(cat "$D/err")"
[ "$(issue_json "$M/pub.json" 'j["entries"]')" = 300 ] || kb_fail "v1 entries: $(cat "$M/pub.json")"
[ "$(issue_json "$M/pub.json" 'j["krl_version"]')" = 6 ] || kb_fail "v1 krl_version: $(cat "$M/pub.json")"
"$BROKER" store get keybroker/revocations >"$M/head.json"
[ "$(issue_json "$M/head.json" 'j["kind"]')" = keybroker/revocations/v2 ] || kb_fail "publish did not migrate"
python3 -c 'import random; r=random.Random(3); print("\n".join(str(r.randrange(1,2**63)) for _ in range(400)))' >"$M/more"
# shellcheck disable=SC2046
"$BROKER" -q revoke $(serial_args "$M/more") 2>"$D/err" || kb_fail "revoke after v1: $(cat "$D/err")"
"$BROKER" --json krl publish -f "$M/a.krl" >"$M/pub.json" 2>"$D/err" || kb_fail "publish: $(cat "$D/err")"
[ "$(issue_json "$M/pub.json" 'j["entries"]')" = 700 ] || kb_fail "after migration: $(cat "$M/pub.json")"
"$BROKER" store get keybroker/revocations >"$M/head.json"
[ "$(issue_json "$M/head.json" 'len(j["shards"])')" -ge 1 ] || kb_fail "no shard after 700 entries"
ssh-keygen -Q -l -f "$M/a.krl" | grep -q "serial: 1000-1299" || kb_fail "v1 serials lost: $(ssh-keygen -Q -l -f "$M/a.krl" | head)"
kb_pass "v1 document: read, migrated on the first write, all 300 entries kept next to 400 new"
