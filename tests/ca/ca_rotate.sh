#!/usr/bin/env bash
# CA rotation end to end with a real sshd whose TrustedUserCAKeys file is
# what 'broker ca show --bundle' prints, redistributed after every step (the
# playbook: rewrite the file; sshd reads it on every authentication).
#   before: the old CA's certificates log in
#   ca rotate (pending): two keys in the bundle, the old CA still signs
#   ca promote: the new CA signs (ssh-keygen -L), both CAs' certificates log
#     in during the overlap
#   after the overlap: only the new CA in the bundle; a still-valid
#     certificate of the old CA is refused, the new CA's works
# plus: a too-short overlap is refused, killed steps converge on a rerun,
# promotion is refused while the previous CA's overlap runs.
# Usage: ca_rotate.sh [local|aws|vault]
. "$KB_TESTLIB/common.sh"
BACKEND=${1:-local}
if [ "$BACKEND" = aws ]; then
	. "$KB_SOURCE_ROOT/tests/aws/lib.sh"
	aws_moto_start
elif [ "$BACKEND" = vault ]; then
	. "$KB_SOURCE_ROOT/tests/vault/lib.sh"
	kb_tmpdir VD
	vault_emulator_start "$VD"
fi
. "$(dirname "$0")/lib.sh"

TTL=4 # the policy's longest max_ttl, in seconds: the overlap's minimum
kb_tmpdir D
carot_setup "$D" "$BACKEND" "${TTL}s"
"$BROKER" ca init >"$D/ca1.pub" 2>"$D/err" || kb_fail "ca init: $(cat "$D/err")"
carot_sshd "$D"
[ "$(grep -c . "$D/trusted")" = 1 ] || kb_fail "fresh bundle should have one key: $(cat "$D/trusted")"
OLD_FP=$(ssh-keygen -lf "$D/ca1.pub" | cut -d' ' -f2)
# 'ca show' (unchanged) and the bundle agree.
[ "$(cut -d' ' -f1,2 "$D/ca1.pub")" = "$(cut -d' ' -f1,2 "$D/trusted")" ] || kb_fail "bundle != ca show"

issue() { # OUTFILE: a certificate for principal deploy, no agent
	rm -f "$1" "$1.pub" "$1-cert.pub"
	"$BROKER" --json issue --role deploy --principal deploy --no-agent --out "$1" >"$1.json" 2>"$D/err" ||
		kb_fail "issue: $(cat "$D/err")"
}
refused() { ! carot_login "$1" 2>/dev/null; }

# A certificate of the old CA that stays valid for an hour: signed by
# ssh-keygen with the CA's private key read back from the backend (an
# older broker policy or a break-glass certificate would be like it).
"$BROKER" store get keybroker/ca/user --field private_key >"$D/oldca" 2>"$D/err" ||
	kb_fail "store get CA private key: $(cat "$D/err")"
chmod 600 "$D/oldca"
ssh-keygen -q -t ed25519 -N '' -f "$D/long" </dev/null
ssh-keygen -q -s "$D/oldca" -I long-lived -n deploy -V -1m:+1h "$D/long.pub" ||
	kb_fail "ssh-keygen could not sign with the broker's CA key"
rm -f "$D/oldca"
[ "$(carot_signer "$D/long-cert.pub")" = "$OLD_FP" ] || kb_fail "long cert signer"

issue "$D/c0"
[ "$(carot_signer "$D/c0-cert.pub")" = "$OLD_FP" ] || kb_fail "issue before rotation not signed by the CA"
carot_login "$D/c0" || kb_fail "old-CA certificate refused before rotation: $(tail -3 "$SSHD_LOG")"
carot_login "$D/long" || kb_fail "long-lived old-CA certificate refused before rotation"
kb_pass "before rotation: the CA's certificates log in"

# ---- too-short overlaps are refused, before anything changes ----
if "$BROKER" ca rotate --overlap 1s >"$D/out" 2>"$D/err"; then kb_fail "ca rotate --overlap 1s (< max_ttl) succeeded"; fi
grep -q "shorter than the longest max_ttl" "$D/err" || kb_fail "too-short overlap message: $(cat "$D/err")"
"$BROKER" ca show --bundle | cmp -s - "$D/trusted" || kb_fail "a refused rotate changed the bundle"
kb_pass "too-short overlap refused (ca rotate)"

# ---- ca rotate: a pending CA, trusted but not signing ----
"$BROKER" --json ca rotate >"$D/r1.json" 2>"$D/err" || kb_fail "ca rotate: $(cat "$D/err")"
[ "$(carot_json "$D/r1.json" 'j["created"]')" = True ] || kb_fail "rotate did not create: $(cat "$D/r1.json")"
[ "$(carot_json "$D/r1.json" 'j["overlap_seconds"]')" = $TTL ] || kb_fail "default overlap is not max_ttl"
NEW_FP=$(carot_json "$D/r1.json" 'j["fingerprint"]')
PEND_VER=$(carot_json "$D/r1.json" 'j["version"]')
"$BROKER" --json ca rotate >"$D/r2.json" || kb_fail "second ca rotate"
[ "$(carot_json "$D/r2.json" 'j["created"]')" = False ] || kb_fail "a rerun of rotate made another CA"
[ "$(carot_json "$D/r2.json" 'j["fingerprint"]')" = "$NEW_FP" ] || kb_fail "a rerun of rotate changed the pending CA"
carot_distribute "$D"
[ "$(grep -c . "$D/trusted")" = 2 ] || kb_fail "pending: bundle should have 2 keys: $(cat "$D/trusted")"
"$BROKER" --json ca show --bundle >"$D/b.json" || kb_fail "show --bundle --json"
[ "$(carot_json "$D/b.json" '[e["stage"] for e in j["bundle"]]')" = "['current', 'pending']" ] ||
	kb_fail "bundle stages: $(cat "$D/b.json")"
[ "$(carot_json "$D/b.json" 'j["bundle"][1]["fingerprint"]')" = "$NEW_FP" ] || kb_fail "pending fingerprint"
ssh-keygen -lf "$D/trusted" | grep -q "$NEW_FP" || kb_fail "ssh-keygen does not read the bundle's new key"
issue "$D/c1"
[ "$(carot_signer "$D/c1-cert.pub")" = "$OLD_FP" ] || kb_fail "a pending CA must not sign yet"
carot_login "$D/c1" || kb_fail "old-CA certificate refused while a CA is pending"
carot_login "$D/long" || kb_fail "long-lived old-CA certificate refused while a CA is pending"
"$BROKER" ca show >"$D/show.pub" && cmp -s "$D/show.pub" "$D/ca1.pub" || kb_fail "'ca show' changed while pending"
kb_pass "ca rotate: pending CA in the bundle (2 keys), old CA still signs, idempotent"

# ---- promotion ----
if "$BROKER" ca promote --overlap 2s >"$D/out" 2>"$D/err"; then kb_fail "ca promote --overlap 2s succeeded"; fi
grep -q "shorter than the longest max_ttl" "$D/err" || kb_fail "too-short overlap message: $(cat "$D/err")"
kb_pass "too-short overlap refused (ca promote)"

# Killed after recording the start, before the store moved the stages.
KB_TEST_CRASH=ca-promote-after-start "$BROKER" ca promote >/dev/null 2>&1
[ $? -ge 128 ] || kb_fail "crash point ca-promote-after-start did not kill the broker"
"$BROKER" --json ca show --bundle >"$D/b.json"
[ "$(carot_json "$D/b.json" '[e["stage"] for e in j["bundle"]]')" = "['current', 'pending']" ] ||
	kb_fail "after a crash before promotion: $(cat "$D/b.json")"
issue "$D/c2"
[ "$(carot_signer "$D/c2-cert.pub")" = "$OLD_FP" ] || kb_fail "crash before promotion: the new CA signs already"
# Killed after the store promoted, before the overlap end was recorded:
# the old CA stays in the bundle (open-ended) until a rerun finishes.
KB_TEST_CRASH=ca-promote-after-promote "$BROKER" ca rotate --promote >/dev/null 2>&1
[ $? -ge 128 ] || kb_fail "crash point ca-promote-after-promote did not kill the broker"
"$BROKER" --json ca show --bundle >"$D/b.json"
[ "$(carot_json "$D/b.json" '[(e["stage"], e["fingerprint"]) for e in j["bundle"]]')" = \
	"[('current', '$NEW_FP'), ('previous', '$OLD_FP')]" ] || kb_fail "after a crash after promotion: $(cat "$D/b.json")"
[ "$(carot_json "$D/b.json" 'j["bundle"][1]["overlap_until"]')" = None ] || kb_fail "unfinished promotion has an end"
"$BROKER" ca status >"$D/status.txt" || kb_fail "ca status"
grep -q "unfinished promotion" "$D/status.txt" || kb_fail "ca status does not show the unfinished promotion"
T0=$(date +%s)
"$BROKER" --json ca promote >"$D/p1.json" 2>"$D/err" || kb_fail "ca promote (rerun): $(cat "$D/err")"
[ "$(carot_json "$D/p1.json" 'j["outcome"]')" = finished ] || kb_fail "rerun did not finish: $(cat "$D/p1.json")"
"$BROKER" --json ca promote >"$D/p2.json" || kb_fail "ca promote (third run)"
[ "$(carot_json "$D/p2.json" 'j["outcome"]')" = already-promoted ] || kb_fail "third run: $(cat "$D/p2.json")"
[ "$(carot_json "$D/p2.json" 'j["to"]')" = "$PEND_VER" ] || kb_fail "promoted the wrong version"
kb_pass "killed promotions converge on a rerun (before and after the store step)"

carot_distribute "$D"
[ "$(grep -c . "$D/trusted")" = 2 ] || kb_fail "overlap: bundle should have 2 keys"
head -1 "$D/trusted" | ssh-keygen -lf - | grep -q "$NEW_FP" || kb_fail "overlap: the current CA is not first"
"$BROKER" --json ca show --bundle >"$D/b.json"
UNTIL=$(carot_json "$D/b.json" 'j["bundle"][1]["overlap_until"]')
LEFT=$(carot_json "$D/b.json" 'j["bundle"][1]["overlap_left_seconds"]')
[ "$LEFT" -ge 1 ] && [ "$LEFT" -le $TTL ] || kb_fail "overlap left $LEFT (until $UNTIL)"
issue "$D/c3"
[ "$(carot_signer "$D/c3-cert.pub")" = "$NEW_FP" ] || kb_fail "after promotion 'broker issue' is not signed by the new CA"
carot_login "$D/c3" || kb_fail "new-CA certificate refused during the overlap: $(tail -3 "$SSHD_LOG")"
carot_login "$D/long" || kb_fail "old-CA certificate refused during the overlap"
"$BROKER" ca show | ssh-keygen -lf - | grep -q "$NEW_FP" || kb_fail "'ca show' does not show the new CA"
kb_pass "overlap: the new CA signs; old and new CA certificates both log in"

# ---- after the overlap ----
while [ "$(date +%s)" -le $((T0 + TTL + 1)) ]; do sleep 0.5; done
"$BROKER" --json ca show --bundle >"$D/b.json"
[ "$(carot_json "$D/b.json" '[e["stage"] for e in j["bundle"]]')" = "['current']" ] ||
	kb_fail "after the overlap the old CA is still in the bundle: $(cat "$D/b.json")"
[ "$(carot_json "$D/b.json" 'j["bundle"][0]["fingerprint"]')" = "$NEW_FP" ] || kb_fail "current after overlap"
carot_distribute "$D"
[ "$(grep -c . "$D/trusted")" = 1 ] || kb_fail "after the overlap the bundle should have 1 key: $(cat "$D/trusted")"
ssh-keygen -lf "$D/trusted" | grep -q "$NEW_FP" || kb_fail "trusted file"
"$BROKER" ca status >"$D/status.txt" && grep -q "^retired: version" "$D/status.txt" ||
	kb_fail "ca status does not report the retired CA: $(cat "$D/status.txt")"
LOGLINES=$(wc -l <"$SSHD_LOG")
if carot_login "$D/long" 2>/dev/null; then kb_fail "old-CA certificate (still valid) accepted after the overlap"; fi
sleep 0.3
tail -n +$((LOGLINES + 1)) "$SSHD_LOG" | grep -q "Failed publickey .*CERT.* ID long-lived .*CA ED25519 $OLD_FP" ||
	kb_fail "sshd did not refuse the old certificate for its CA: $(tail -n +$((LOGLINES + 1)) "$SSHD_LOG")"
ssh-keygen -L -f "$D/long-cert.pub" | grep -q "Valid: from" || kb_fail "long cert"
issue "$D/c4"
carot_login "$D/c4" || kb_fail "new-CA certificate refused after the overlap"
kb_pass "after the overlap: only the new CA; a valid old-CA certificate is refused, the new one works"

# ---- a second rotation ----
# Killed right after storing the pending CA (before its overlap is
# recorded): the rerun keeps that CA and records it.
KB_TEST_CRASH=ca-rotate-after-put "$BROKER" ca rotate --overlap 1h >/dev/null 2>&1
[ $? -ge 128 ] || kb_fail "crash point ca-rotate-after-put did not kill the broker"
"$BROKER" --json ca show --bundle >"$D/b.json"
P2=$(carot_json "$D/b.json" '[e["version"] for e in j["bundle"] if e["stage"] == "pending"][0]')
[ "$(carot_json "$D/b.json" 'j["rotation"].get("pending")')" = None ] || kb_fail "pending recorded before the crash point?"
"$BROKER" --json ca rotate --overlap 1h >"$D/r3.json" 2>"$D/err" || kb_fail "rotate rerun: $(cat "$D/err")"
[ "$(carot_json "$D/r3.json" '(j["created"], j["version"], j["overlap_seconds"])')" = "(False, '$P2', 3600)" ] ||
	kb_fail "rotate rerun after a crash: $(cat "$D/r3.json")"
"$BROKER" --json ca show --bundle >"$D/b.json"
[ "$(carot_json "$D/b.json" 'j["rotation"]["pending"]["version"]')" = "$P2" ] || kb_fail "pending not recorded"
kb_pass "a rotate killed after storing the pending CA converges on a rerun"
# The first promotion's overlap is over: promote, then rotate again at
# once; that CA may be prepared but not promoted while the previous CA's
# overlap runs (exit 7, pending).
"$BROKER" ca promote >/dev/null 2>"$D/err" || kb_fail "second promote: $(cat "$D/err")"
"$BROKER" ca rotate >/dev/null 2>"$D/err" || kb_fail "rotate during the overlap: $(cat "$D/err")"
"$BROKER" ca promote >/dev/null 2>"$D/err"
rc=$?
[ $rc = 7 ] || kb_fail "promote during the previous overlap: exit $rc, want 7: $(cat "$D/err")"
grep -q "trusted until" "$D/err" || kb_fail "refusal message: $(cat "$D/err")"
kb_pass "promotion refused while the previous CA's overlap runs (exit 7)"

# The whole history is audited.
"$BROKER" audit verify "$D/audit/audit.log" >/dev/null || kb_fail "audit log does not verify"
for ev in '"event":"ca-rotate".*"outcome":"pending-created"' '"event":"ca-rotate".*"outcome":"pending-kept"' \
	'"event":"ca-promote".*"outcome":"finished"' '"event":"ca-promote".*"outcome":"refused"'; do
	grep -q "$ev" "$D/audit/audit.log" || kb_fail "audit log has no line matching $ev"
done
kb_pass "every rotation step is in the audit log"

if [ "$BACKEND" = aws ]; then
	# boto3 sees the same thing: stages on the CA secret, the rotation
	# state next to it.
	"$BROKER" ca show >"$D/cur.pub" || kb_fail "ca show"
	aws_py - "$D/cur.pub" <<'PY' || kb_fail "boto3 view of the rotation"
import boto3, json, os, sys
sm = boto3.client("secretsmanager", region_name=os.environ["AWS_REGION"], endpoint_url=os.environ["AWS_ENDPOINT_URL"])
cur = sm.get_secret_value(SecretId="keybroker/ca/user", VersionStage="AWSCURRENT")
ca = json.loads(cur["SecretString"])
assert ca["kind"] == "keybroker/ssh-ca/v1"
assert ca["public_key"].split()[1] == open(sys.argv[1]).read().split()[1], "AWSCURRENT is not what ca show prints"
sm.get_secret_value(SecretId="keybroker/ca/user", VersionStage="AWSPENDING")
prev = sm.get_secret_value(SecretId="keybroker/ca/user", VersionStage="AWSPREVIOUS")
st = json.loads(sm.get_secret_value(SecretId="keybroker/ca/user-rotation", VersionStage="AWSCURRENT")["SecretString"])
assert st["kind"] == "keybroker/ca-rotation/v1"
p = st["promotion"]
assert p["to"] == cur["VersionId"] and p["from"] == prev["VersionId"] and p["done"], p
PY
	kb_pass "aws: boto3 sees the CA stages and the rotation state"
fi
