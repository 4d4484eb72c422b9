#!/usr/bin/env bash
# lib/agent's client against broker-agent (extensions included) and against
# stock ssh-agent (extensions refused cleanly).
. "$KB_TESTLIB/common.sh"
kb_tmpdir T
for which in broker stock; do
	if [ $which = broker ]; then bin=$BROKER_AGENT; else bin=ssh-agent; fi
	eval "$($bin -s -a "$T/$which.sock")" >/dev/null || kb_fail "$which agent did not start"
	kb_cleanup_add "kill $SSH_AGENT_PID"
	"$AGENT_CLIENT_TEST" $which || kb_fail "client test against $which agent"
	kill "$SSH_AGENT_PID"
done
kb_pass "agent client library"
