#!/usr/bin/env bash
# The backend conformance test (conformance.sh) on the local store, in a
# fresh directory, once with a key file and once with a passphrase.
. "$KB_TESTLIB/common.sh"
kb_tmpdir T
unset BROKER_STORE_PASSPHRASE BROKER_CONFIG
export BROKER_BACKEND=local
BROKER_STORE_DIR=$T/keyfile bash "$(dirname "$0")/conformance.sh" || kb_fail "conformance (key file)"
BROKER_STORE_DIR=$T/pass BROKER_STORE_PASSPHRASE=conformance KB_CONFORMANCE_BIG=0 \
	bash "$(dirname "$0")/conformance.sh" >/dev/null || kb_fail "conformance (passphrase)"
kb_pass "local backend conformance with key file and passphrase"
