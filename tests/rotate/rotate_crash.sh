#!/usr/bin/env bash
# Killing the rotation job (SIGKILL, via the test-only crash points of
# KEYBROKER_TEST_CRASH) at every step, for every host, never locks anyone
# out and the next run converges:
#  - after each crash, the stored current key (from `broker store get`, fed
#    to ssh-agent with `ssh-add -`, never written to disk) logs in to all
#    three real sshds;
#  - the rerun exits 0 and leaves each host with exactly the current key,
#    no pending version, and the previous key refused;
#  - a crash while a rerun finishes the last rotation (cleanup) converges
#    too; the audit log still verifies.  ROT_CRASH_PARALLEL=3 ('slow'
#    suite) crashes with three workers, while other hosts are mid-step.
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/rotate/lib.sh"

kb_tmpdir D
rot_setup "$D"
NHOSTS=3
rot_hosts "$D" $NHOSTS
rot_targets
CRED=keybroker/static/app

"$BROKER" static create app "${TARGETS[@]}" >/dev/null 2>"$D/err" || kb_fail "static create: $(cat "$D/err")"
for i in 1 2 3; do "$BROKER" store get "$CRED" --field public_key >"$D/h$i/keys/$ME.keys"; done
rot_converged "installed"

# ROT_CRASH_PARALLEL (the 'slow' variant: 3): workers for the crashed runs.
CRASH_PARALLEL=${ROT_CRASH_PARALLEL:-1}
crash_run() { # POINT [ROTATE OPTIONS...]
	local point=$1 rc=0
	shift
	KEYBROKER_TEST_CRASH=$point "$BROKER" rotate --credential app "${HOSTOPTS[@]}" --parallel "$CRASH_PARALLEL" "$@" \
		>/dev/null 2>"$D/crash.err" || rc=$?
	[ "$rc" = 137 ] || kb_fail "crash at $point: exit $rc, wanted 137 (SIGKILL): $(cat "$D/crash.err")"
	grep -q "KEYBROKER_TEST_CRASH: killed after" "$D/crash.err" || kb_fail "crash at $point: no crash message"
}
rerun() { # CONTEXT
	"$BROKER" rotate --credential app "${HOSTOPTS[@]}" >/dev/null 2>"$D/rerun.err" ||
		kb_fail "$1: rerun exit $?: $(cat "$D/rerun.err")"
}

for point in create set:1 set:2 set:3 test:1 test:2 test:3 promote remove:1 remove:2 remove:3; do
	before=$(rot_blob current)
	crash_run "$point"
	rot_current_everywhere "after a crash at $point"
	rerun "crash at $point"
	rot_converged "rerun after a crash at $point"
	case $point in
	remove:3) ;; # the crashed run had finished everything but its exit
	*) [ "$(rot_blob current)" != "$before" ] || kb_fail "crash at $point: the rerun did not rotate" ;;
	esac
	kb_pass "crash at $point: the current key logs in everywhere; the rerun converges"
done

# A crash while the rerun itself finishes the last rotation.
crash_run remove:1 --parallel 1 # deterministic: hosts 2 and 3 keep the old key
crash_run cleanup:2 --parallel 1
rot_current_everywhere "after a crash during cleanup"
rerun "crash during cleanup"
rot_converged "rerun after a crash during cleanup"
grep -q "finish" "$D/rerun.err" || kb_fail "the rerun did not finish the last rotation: $(cat "$D/rerun.err")"
kb_pass "crash while finishing the last rotation: converges"

# With parallel workers the crash lands while other hosts are mid-step
# (the 'slow' variant, ROT_CRASH_PARALLEL=3, does this at every point).
# Known issue (broker/sshc/authkeys.c, reported): a remote edit cut off by
# the kill can die of SIGPIPE without running its EXIT trap and leave its
# lock directory (<authorized_keys>.kb-lock) behind; the rerun then fails
# with "locked by another edit" until it is removed.  Sequential runs
# (--parallel 1) never kill the job while an edit is in flight.
if [ "$CRASH_PARALLEL" != 1 ]; then
	crash_run set:2 --parallel 3
	rot_current_everywhere "after a crash at set:2 with --parallel 3"
	rerun "crash at set:2, --parallel 3"
	rot_converged "rerun after a parallel crash"
	kb_pass "crash with --parallel 3: converges"
fi

"$BROKER" audit verify >/dev/null 2>"$D/err" || kb_fail "audit verify after crashes: $(cat "$D/err")"
kb_pass "the audit log verifies after every crash"
