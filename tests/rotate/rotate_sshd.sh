#!/usr/bin/env bash
# broker static create --install and broker rotate against three real sshds
# on 127.0.0.1 (each with its own authorized_keys file, never ~/.ssh):
#  - create + install through a stock ssh-agent holding a bootstrap key;
#    the new key logs in everywhere; static list/show (--json) never show
#    the private key;
#  - --dry-run changes nothing (keys files, store, audit log);
#  - a full rotation: each host holds exactly the new key, the old one is
#    refused, the audit log has every step and verifies;
#  - a host down (stopped: connect timeout): exit 7, rotation pending, the
#    current key still logs in everywhere, --on-failure runs with the report;
#    host back: the rerun converges;
#  - a wrong known_hosts entry refuses that host (exit 1), nothing removed;
#  - two jobs on the same credential at once both succeed and converge;
#  - bad command lines: one-line errors, exit 2 / 4;
#  - an install with a host down exits 7 with a hint; static install finishes.
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/rotate/lib.sh"

kb_tmpdir D
rot_setup "$D"
NHOSTS=3
rot_hosts "$D" $NHOSTS
rot_targets
CRED=keybroker/static/db

# ---- bootstrap: a key the hosts already accept, in a stock ssh-agent ----
ssh-keygen -q -t ed25519 -N '' -C bootstrap -f "$D/boot"
for i in 1 2 3; do cp "$D/boot.pub" "$D/h$i/keys/$ME.keys"; done
eval "$(ssh-agent -s -a "$D/run/boot.sock")" >/dev/null
kb_cleanup_add "kill $SSH_AGENT_PID"
ssh-add -q "$D/boot" 2>/dev/null || kb_fail "ssh-add bootstrap"
rm -f "$D/boot"

"$BROKER" static create db "${TARGETS[@]}" --install "${HOSTOPTS[@]}" >"$D/create.out" 2>"$D/create.err" ||
	kb_fail "static create --install: $(cat "$D/create.err")"
unset SSH_AUTH_SOCK
for i in 1 2 3; do
	[ "$(rot_keys $i | wc -l)" = 2 ] || kb_fail "host $i: expected bootstrap + new key, got: $(rot_keys $i)"
	rot_keys $i | grep -q "$(rot_blob current)" || kb_fail "host $i: new key not installed"
done
rot_current_everywhere "after install"
grep -q "static: $CRED: done" "$D/create.err" || kb_fail "install did not report done: $(cat "$D/create.err")"
"$BROKER" static create db "${TARGETS[@]}" 2>"$D/err" && kb_fail "static create of an existing name succeeded"
grep -q "exists" "$D/err" || kb_fail "no 'exists' error: $(cat "$D/err")"
# The bootstrap key has done its job.
for i in 1 2 3; do sed -i '/bootstrap/d' "$D/h$i/keys/$ME.keys"; done
kb_pass "static create --install through a stock ssh-agent; the new key logs in to all three hosts"

"$BROKER" --json static list >"$D/list.json" || kb_fail "static list --json"
[ "$(rot_json "$D/list.json" 'len(j[0]["targets"])')" = 3 ] || kb_fail "static list: $(cat "$D/list.json")"
"$BROKER" --json static show db >"$D/show.json" || kb_fail "static show --json"
[ "$(rot_json "$D/show.json" 'j["rotation"]')" = none ] || kb_fail "static show: $(cat "$D/show.json")"
"$BROKER" static show db >"$D/show.txt" || kb_fail "static show"
cat "$D"/*.out "$D"/*.json "$D/show.txt" | grep -q "PRIVATE KEY" && kb_fail "a private key was printed"
kb_pass "static list/show (--json), no private key printed"

# ---- --dry-run changes nothing ----
snapshot() {
	for i in 1 2 3; do rot_keys $i; done
	"$BROKER" --json store describe "$CRED"
	cat "$D/audit/audit.log"
}
snapshot >"$D/snap.before"
"$BROKER" --json rotate --credential db --dry-run "${HOSTOPTS[@]}" >"$D/dry.json" 2>"$D/dry.err" ||
	kb_fail "dry run: $(cat "$D/dry.err")"
snapshot >"$D/snap.after"
cmp -s "$D/snap.before" "$D/snap.after" || kb_fail "--dry-run changed something: $(diff "$D/snap.before" "$D/snap.after")"
[ "$(rot_json "$D/dry.json" 'j["credentials"][0]["steps"]["create"]["status"]')" = would-run ] ||
	kb_fail "dry run report: $(cat "$D/dry.json")"
[ "$(rot_json "$D/dry.json" 'j["dry_run"]')" = True ] || kb_fail "dry run not marked"
[ "$(rot_json "$D/dry.json" 'sorted(set(h["steps"]["probe"]["status"] + "/" + h["steps"]["set"]["status"] for h in j["credentials"][0]["hosts"]))')" = "['ok/would-run']" ] ||
	kb_fail "dry run: hosts not checked read-only: $(cat "$D/dry.json")"
kb_pass "--dry-run reports the plan and changes nothing"

# ---- a full rotation ----
OLD=$(rot_blob current)
"$BROKER" --json rotate --credential db "${HOSTOPTS[@]}" >"$D/rot.json" 2>"$D/rot.err" ||
	kb_fail "rotate: exit $? $(cat "$D/rot.err")"
NEW=$(rot_blob current)
[ "$OLD" != "$NEW" ] || kb_fail "the current key did not change"
[ "$(rot_blob previous)" = "$OLD" ] || kb_fail "the old key is not the previous version"
rot_converged "after a rotation"
python3 - "$D/rot.json" <<'EOF' || kb_fail "rotate --json report: $(cat "$D/rot.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["status"] == "done" and j["exit"] == 0, j
c = j["credentials"][0]
assert c["action"] == "rotate" and c["promoted"] is True, c
assert c["steps"]["create"]["status"] == "ok" and c["steps"]["promote"]["status"] == "ok"
assert len(c["hosts"]) == 3
for h in c["hosts"]:
    for s in ("set", "test", "remove"):
        assert h["steps"][s]["status"] == "ok", h
    assert h["status"] == "done"
EOF
for s in create set test promote remove; do
	grep -q "\"step\":\"$s\"" "$D/audit/audit.log" || kb_fail "audit log has no '$s' step"
done
"$BROKER" audit verify >/dev/null 2>"$D/err" || kb_fail "audit verify: $(cat "$D/err")"
kb_pass "full rotation: one key per host, old key refused, JSON report, every step audited"

# A second rotation right away starts from the clean state; it runs with
# full debug output, which must not contain either private key it handled.
"$BROKER" -v -v rotate --credential db "${HOSTOPTS[@]}" >"$D/rot2.out" 2>"$D/rot2.err" ||
	kb_fail "second rotation: $(cat "$D/rot2.err")"
[ "$(rot_blob previous)" = "$NEW" ] || kb_fail "second rotation: previous is not the first rotation's key"
rot_converged "after a second rotation"
grep -Eq '^broker: [a-z_0-9]+:[0-9]+: ' "$D/rot2.err" || kb_fail "-v -v gave no debug output to search"
for stage in previous current; do
	"$BROKER" store get "$CRED" --stage $stage --field private_key |
		python3 "$KB_SOURCE_ROOT/tests/rotate/key_leak.py" "$D/rot2.err" "$D/rot2.out" ||
		kb_fail "the $stage private key appears in the rotation's debug output"
done
kb_pass "a second rotation; its debug output holds neither private key"

# ---- a host down: pending, exit 7, current key still everywhere ----
kill -STOP "${PIDS[2]}"
kb_cleanup_add "kill -CONT ${PIDS[2]}"
rc=0
"$BROKER" --json rotate --all "${HOSTOPTS[@]}" --connect-timeout 2 \
	--on-failure "env | grep ^BROKER_ROTATE_ | sort >'$D/hook.env'; cat >'$D/hook.json'" \
	>"$D/down.json" 2>"$D/down.err" || rc=$?
[ "$rc" = 7 ] || kb_fail "a host down: exit $rc, wanted 7: $(cat "$D/down.err")"
grep -q "127.0.0.1:${PORTS[2]}.*unreachable" "$D/down.err" || kb_fail "no clear per-host error: $(cat "$D/down.err")"
grep -q "timed out" "$D/down.err" || kb_fail "the error does not say it timed out: $(cat "$D/down.err")"
[ "$(rot_json "$D/down.json" 'j["credentials"][0]["status"]')" = pending ] || kb_fail "report: $(cat "$D/down.json")"
[ -n "$(rot_blob pending)" ] || kb_fail "no pending version after a host was down"
grep -qx "BROKER_ROTATE_STATUS=pending" "$D/hook.env" || kb_fail "--on-failure: $(cat "$D/hook.env" 2>&1)"
grep -qx "BROKER_ROTATE_EXIT=7" "$D/hook.env" || kb_fail "--on-failure exit: $(cat "$D/hook.env")"
grep -q "BROKER_ROTATE_HOSTS=.*127.0.0.1:${PORTS[2]}=pending" "$D/hook.env" || kb_fail "--on-failure hosts: $(cat "$D/hook.env")"
[ "$(rot_json "$D/hook.json" 'j["status"]')" = pending ] || kb_fail "--on-failure stdin report"
kill -CONT "${PIDS[2]}"
rot_current_everywhere "host 2 was down"
kb_pass "host down: exit 7, pending, --on-failure ran, the current key still logs in everywhere"

"$BROKER" rotate --all --resume-only "${HOSTOPTS[@]}" 2>"$D/resume.err" ||
	kb_fail "resume after host back: $(cat "$D/resume.err")"
grep -q "resume" "$D/resume.err" || kb_fail "the rerun did not resume: $(cat "$D/resume.err")"
rot_converged "host back, rerun"
kb_pass "host back: the rerun (--resume-only) resumes and converges"
KEEP=$(rot_blob current)
"$BROKER" rotate --all --resume-only "${HOSTOPTS[@]}" 2>"$D/err" || kb_fail "--resume-only, nothing under way: $(cat "$D/err")"
[ "$(rot_blob current)" = "$KEEP" ] || kb_fail "--resume-only started a new rotation"
kb_pass "--resume-only with nothing under way changes nothing"

# ---- a wrong known_hosts entry refuses the host ----
ssh-keygen -q -t ed25519 -N '' -f "$D/fake_host"
sed "s|^\[127.0.0.1\]:${PORTS[3]} .*|[127.0.0.1]:${PORTS[3]} $(cut -d' ' -f1,2 "$D/fake_host.pub")|" "$KH" >"$D/bad_kh"
rc=0
"$BROKER" -q rotate --credential db --known-hosts "$D/bad_kh" --authorized-keys 'keys/%u.keys' 2>"$D/bad.err" || rc=$?
[ "$rc" = 1 ] || kb_fail "wrong known_hosts: exit $rc, wanted 1: $(cat "$D/bad.err")"
grep -qi "127.0.0.1:${PORTS[3]}.*host key" "$D/bad.err" || kb_fail "-q: no host key error for host 3: $(cat "$D/bad.err")"
grep -q ": ok" "$D/bad.err" && kb_fail "-q printed progress: $(cat "$D/bad.err")"
rot_current_everywhere "wrong known_hosts entry"
for i in 1 2 3; do rot_keys $i | grep -q "$(rot_blob current)" || kb_fail "current key removed from host $i"; done
"$BROKER" rotate --credential db "${HOSTOPTS[@]}" 2>"$D/err" || kb_fail "rerun with the right known_hosts: $(cat "$D/err")"
rot_converged "after a refused host key"
kb_pass "a wrong known_hosts entry refuses the host (exit 1; -q shows only the error), nothing removed; the rerun converges"

# ---- two jobs at once (local store: the idempotency token makes them share one pending version) ----
"$BROKER" rotate --credential db "${HOSTOPTS[@]}" >/dev/null 2>"$D/j1.err" &
p1=$!
"$BROKER" rotate --credential db "${HOSTOPTS[@]}" >/dev/null 2>"$D/j2.err" &
p2=$!
rc1=0 rc2=0
wait $p1 || rc1=$?
wait $p2 || rc2=$?
[ "$rc1" = 0 ] && [ "$rc2" = 0 ] || kb_fail "two concurrent jobs: exits $rc1 $rc2: $(cat "$D/j1.err" "$D/j2.err")"
rot_converged "two concurrent jobs"
kb_pass "two concurrent jobs on one credential both succeed and converge"

# ---- usage errors ----
expect() { # CODE ARGS...
	local want=$1 rc=0
	shift
	"$BROKER" "$@" >/dev/null 2>"$D/err" || rc=$?
	[ "$rc" = "$want" ] || kb_fail "broker $*: exit $rc, wanted $want: $(cat "$D/err")"
	[ "$(wc -l <"$D/err")" -ge 1 ] && grep -q '^broker: ' "$D/err" || kb_fail "broker $*: no error message"
}
expect 2 rotate
expect 2 rotate --all --role x
expect 2 rotate --all --parallel 0 "${HOSTOPTS[@]}"
expect 2 rotate --all "${HOSTOPTS[@]}" --connect-timeout never
expect 2 rotate --all --target nohost "${HOSTOPTS[@]}"
expect 4 rotate --credential nosuch "${HOSTOPTS[@]}"
expect 4 rotate --credential static/nosuch "${HOSTOPTS[@]}"
expect 4 rotate --credential keybroker/other/nosuch "${HOSTOPTS[@]}"
expect 4 rotate --all --known-hosts "$D/none"
expect 2 static create x
expect 2 static create "${TARGETS[@]}"
expect 2 static create y --target "$ME@127.0.0.1:1" -t dsa
expect 4 static show nosuch
kb_pass "usage errors: exit codes and one-line messages"

# ---- install with a host down: exit 7 and a hint; static install finishes ----
rot_agent_load current || kb_fail "load the current key of $CRED"
kill -STOP "${PIDS[3]}"
rc=0
SSH_AUTH_SOCK=$CHECK_SOCK "$BROKER" static create db2 "${TARGETS[@]}" --install "${HOSTOPTS[@]}" --connect-timeout 1 \
	>/dev/null 2>"$D/i2.err" || rc=$?
kill -CONT "${PIDS[3]}"
[ "$rc" = 7 ] || kb_fail "install with a host down: exit $rc, wanted 7: $(cat "$D/i2.err")"
grep -q "broker static install" "$D/i2.err" || kb_fail "no hint to retry: $(cat "$D/i2.err")"
SSH_AUTH_SOCK=$CHECK_SOCK "$BROKER" static install db2 "${HOSTOPTS[@]}" 2>"$D/err" || kb_fail "static install: $(cat "$D/err")"
CRED=keybroker/static/db2
rot_current_everywhere "static install after a host was down"
kb_pass "install with a host down: exit 7 with a hint; 'static install' finishes it (logged in through an agent)"
