#!/usr/bin/env bash
# The backend conformance test (conformance.sh) on the local store, in a
# fresh directory.  With the argument "passphrase" the store is opened with
# BROKER_STORE_PASSPHRASE (Argon2id on every call, so it is in suite 'slow').
. "$KB_TESTLIB/common.sh"
kb_tmpdir T
unset BROKER_STORE_PASSPHRASE BROKER_CONFIG
export BROKER_BACKEND=local BROKER_STORE_DIR=$T/store
if [ "${1:-}" = passphrase ]; then
	export BROKER_STORE_PASSPHRASE=conformance
fi
bash "$(dirname "$0")/conformance.sh" || kb_fail "conformance (${1:-key file})"
[ -e "$T/store/master.key" ] && [ "${1:-}" = passphrase ] && kb_fail "passphrase store wrote master.key"
kb_pass "local backend conformance (${1:-key file})"
