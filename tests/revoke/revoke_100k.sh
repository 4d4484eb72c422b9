#!/usr/bin/env bash
# Slow suite: 100,000 serial revocations on one backend (local, aws via
# moto with SigV4 checked, or vault via the emulator), written by four
# concurrent revokers in batches of 5000, then published: every serial in
# the KRL (ssh-keygen -Q -l lists them), a revoked certificate refused by
# ssh-keygen -Q.   Usage: revoke_100k.sh local|aws|vault
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/issue/lib.sh"
BACKEND=${1:-local}
kb_tmpdir D
case $BACKEND in
aws) . "$KB_SOURCE_ROOT/tests/aws/lib.sh"; aws_moto_start ;;
vault) . "$KB_SOURCE_ROOT/tests/vault/lib.sh"; vault_emulator_start "$D" ;;
esac
issue_setup "$D" "$BACKEND"
"$BROKER" --json issue --role deploy --principal deploy --ttl 30m --name x --no-agent --out "$D/x" >/dev/null \
	2>"$D/err" || kb_fail "issue: $(cat "$D/err")"
S=$(ssh-keygen -L -f "$D/x-cert.pub" | sed -n 's/.*Serial: \([0-9]*\)/\1/p')
python3 - "$S" "$D" <<'PY'
import random, sys
r = random.Random(100)
s = set()
while len(s) < 99999:
    s.add(r.randrange(1, 2**63))
s = sorted(s, key=lambda _: r.random()) + [int(sys.argv[1])]
for w in range(4):
    part = s[w * 25000:(w + 1) * 25000]
    for b in range(5):
        open("%s/w%d.%d" % (sys.argv[2], w, b), "w").write("\n".join(map(str, part[b * 5000:(b + 1) * 5000])) + "\n")
PY
start=$(date +%s)
pids=()
for w in 0 1 2 3; do
	(
		for b in 0 1 2 3 4; do
			# shellcheck disable=SC2046
			"$BROKER" -q revoke --no-agent $(sed 's/^/--serial /' "$D/w$w.$b") || exit 1
		done
	) 2>"$D/err-w$w" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || kb_fail "a revoker failed ($BACKEND): $(cat "$D"/err-w*)"; done
filled=$(date +%s)
"$BROKER" --json krl publish -f "$D/k.krl" >"$D/pub.json" 2>"$D/err" || kb_fail "publish ($BACKEND): $(cat "$D/err")"
published=$(date +%s)
[ "$(issue_json "$D/pub.json" 'j["entries"]')" = 100000 ] || kb_fail "entries ($BACKEND): $(cat "$D/pub.json")"
[ "$(ssh-keygen -Q -l -f "$D/k.krl" | grep -ci serial)" = 100000 ] || kb_fail "KRL does not list 100000 serials"
rc=0; ssh-keygen -Q -f "$D/k.krl" "$D/x-cert.pub" >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || kb_fail "ssh-keygen -Q: the revoked certificate is not revoked"
"$BROKER" store get keybroker/revocations >"$D/head.json"
kb_pass "$BACKEND: 100000 revocations by 4 concurrent writers in $((filled - start)) s, $(issue_json "$D/head.json" 'len(j["shards"])') shards; publish $((published - filled)) s"
