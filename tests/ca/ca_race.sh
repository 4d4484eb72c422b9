#!/usr/bin/env bash
# Brokers racing on one backend: two 'ca init' (both paused between "no CA
# yet" and their write, so they always race) create one CA and report the
# same key; two 'ca rotate' make one pending CA.
# Usage: ca_race.sh [local|vault|aws]   (aws is not in the suite: moto,
# unlike AWS, lets a reused ClientRequestToken replace a version's value, so
# the race is only narrowed there, by re-reading after the write)
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

kb_tmpdir D
carot_setup "$D" "$BACKEND" 1m
for i in 1 2 3; do
	KB_TEST_PAUSE=ca-init-before-put "$BROKER" ca init >"$D/init$i.pub" 2>"$D/init$i.err" &
	eval "P$i=\$!"
done
for i in 1 2 3; do eval "wait \$P$i" || kb_fail "ca init $i failed: $(cat "$D/init$i.err")"; done
[ "$(cat "$D"/init*.err | grep -c "created the user CA")" = 1 ] ||
	kb_fail "racing ca init: not exactly one created: $(cat "$D"/init*.err)"
[ "$(cat "$D"/init*.err | grep -c "already exists")" = 2 ] || kb_fail "racing ca init: $(cat "$D"/init*.err)"
cmp -s "$D/init1.pub" "$D/init2.pub" && cmp -s "$D/init1.pub" "$D/init3.pub" ||
	kb_fail "racing ca init reported different keys"
"$BROKER" ca show | cmp -s - "$D/init1.pub" || kb_fail "the CA in the backend is not the one reported"
kb_pass "$BACKEND: racing ca init makes one CA"

for i in 1 2 3; do
	KB_TEST_PAUSE=ca-rotate-before-put "$BROKER" --json ca rotate >"$D/rot$i.json" 2>"$D/rot$i.err" &
	eval "P$i=\$!"
done
for i in 1 2 3; do eval "wait \$P$i" || kb_fail "ca rotate $i failed: $(cat "$D/rot$i.err")"; done
[ "$(cat "$D"/rot*.json | grep -c '"created": true')" = 1 ] || kb_fail "racing rotate: $(cat "$D"/rot*.json)"
[ "$(cat "$D"/rot*.json | grep '"version"' | sort -u | wc -l)" = 1 ] || kb_fail "racing rotate: versions differ"
"$BROKER" --json ca show --bundle >"$D/b.json"
[ "$(carot_json "$D/b.json" '[e["stage"] for e in j["bundle"]]')" = "['current', 'pending']" ] ||
	kb_fail "after racing rotates: $(cat "$D/b.json")"
[ "$(carot_json "$D/b.json" 'j["bundle"][1]["fingerprint"]')" = "$(carot_json "$D/rot1.json" 'j["fingerprint"]')" ] ||
	kb_fail "the pending CA is not the one the rotates reported"
kb_pass "$BACKEND: racing ca rotate makes one pending CA"
