#!/usr/bin/env bash
# The store backend conformance test (tests/store/conformance.sh) on the
# AWS backend, against moto_server with SigV4 checking on.
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/aws/lib.sh"
conf=$KB_SOURCE_ROOT/tests/store/conformance.sh
[ -f "$conf" ] || kb_fail "tests/store/conformance.sh is missing"
kb_tmpdir T
aws_moto_start
printf '# aws conformance: settings come from the environment\n' >"$T/broker.conf"
export BROKER_BACKEND=aws KB_CONFORMANCE_ARGS="--config $T/broker.conf"
bash "$conf" || kb_fail "aws backend conformance"
kb_pass "aws backend conformance (moto, SigV4 checked)"
