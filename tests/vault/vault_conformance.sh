#!/bin/bash
# The store helper's backend conformance test (tests/store/conformance.sh,
# through `broker --backend vault store ...`) against the Vault emulator,
# over TLS with VAULT_CACERT, and once more in a namespace with an AppRole
# token instead of the root token.
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/vault/lib.sh"
kb_tmpdir T
vault_emulator_start "$T" --namespace ops
unset BROKER_CONFIG
export BROKER_BACKEND=vault
bash "$KB_SOURCE_ROOT/tests/store/conformance.sh" >"$T/conf.log" 2>&1 ||
	kb_fail "conformance (root token): $(tail -5 "$T/conf.log")"
seen() { curl -sS "$VAULT_CTL/emulator/log" | jget "sum(1 for r in d['requests'] if r['path'].startswith('/v1/secret/data/keybroker/conformance/') and r['namespace']=='$1')"; }
(($(seen '') > 10)) || kb_fail "the broker did not talk to the emulator"
kb_pass "conformance with a root token ($(grep -c '^ok' "$T/conf.log") checks)"

export VAPI_NS=ops
vapi PUT sys/policies/acl/broker '{"policy":"{\"path\":{\"secret/data/keybroker/*\":{\"capabilities\":[\"create\",\"read\",\"update\"]},\"secret/metadata/keybroker/*\":{\"capabilities\":[\"create\",\"read\",\"update\",\"list\",\"delete\"]},\"secret/metadata/\":{\"capabilities\":[\"list\"]},\"secret/metadata/keybroker/\":{\"capabilities\":[\"list\"]}}}"}'
vapi POST auth/approle/role/broker '{"token_policies":["broker"],"token_ttl":"1h"}'
ROLE=$(vapi GET auth/approle/role/broker/role-id | jget 'd["data"]["role_id"]')
SECRET=$(vapi POST auth/approle/role/broker/secret-id | jget 'd["data"]["secret_id"]')
unset VAPI_NS VAULT_TOKEN
VAULT_NAMESPACE=ops VAULT_ROLE_ID=$ROLE VAULT_SECRET_ID=$SECRET KB_CONFORMANCE_BIG=0 \
	bash "$KB_SOURCE_ROOT/tests/store/conformance.sh" >"$T/conf2.log" 2>&1 ||
	kb_fail "conformance (AppRole, namespace ops): $(tail -5 "$T/conf2.log")"
(($(seen ops) > 10)) || kb_fail "the broker did not use namespace ops"
kb_pass "conformance with an AppRole token in namespace ops"
