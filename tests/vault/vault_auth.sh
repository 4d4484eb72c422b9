#!/bin/bash
# Vault authentication and namespaces against the emulator: AppRole login
# (VAULT_ROLE_ID + VAULT_SECRET_ID or VAULT_SECRET_ID_FILE), renewal of the
# token before it expires, a fresh login at the max TTL, expired tokens,
# and namespaces (X-Vault-Namespace) keeping separate trees.
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/vault/lib.sh"
kb_tmpdir T
vault_emulator_start "$T" --namespace team-a --namespace team-b
V=$VDRIVER
printf 'x' >"$T/x"

policy='{"policy":"{\"path\":{\"secret/data/keybroker/*\":{\"capabilities\":[\"create\",\"read\",\"update\"]},\"secret/metadata/keybroker/*\":{\"capabilities\":[\"create\",\"read\",\"update\",\"list\",\"delete\"]}}}"}'
vapi PUT sys/policies/acl/broker "$policy"
vapi POST auth/approle/role/broker '{"token_policies":["broker"],"token_ttl":"3s","token_max_ttl":"60s"}'
ROLE=$(vapi GET auth/approle/role/broker/role-id | jget 'd["data"]["role_id"]')
SECRET=$(vapi POST auth/approle/role/broker/secret-id | jget 'd["data"]["secret_id"]')

# Renewal: a 3 s token used for 5 s by one long-lived store handle.
out=$(unset VAULT_TOKEN; VAULT_ROLE_ID=$ROLE VAULT_SECRET_ID=$SECRET $V renew keybroker/app/renew 4) ||
	kb_fail "AppRole run failed: $out"
echo "$out" | grep -q '^logins=1 renewals=[1-9]' || kb_fail "expected one login and renewals: $out"
[ "$(echo "$out" | grep -c '^renew-me$')" = 4 ] || kb_fail "reads failed during renewal: $out"
n=$(curl -sS "$VAULT_CTL/emulator/log" | jget "sum(1 for r in d['requests'] if r['path']=='/v1/auth/token/renew-self' and r['status']==200)")
((n >= 1)) || kb_fail "the emulator saw no successful renew-self"
kb_pass "AppRole login, token renewed before expiry ($(echo "$out" | tail -1))"

# At the max TTL renewal cannot help: the broker logs in again.
vapi POST auth/approle/role/short '{"token_policies":["broker"],"token_ttl":"3s","token_max_ttl":"4s"}'
R2=$(vapi GET auth/approle/role/short/role-id | jget 'd["data"]["role_id"]')
S2=$(vapi POST auth/approle/role/short/secret-id | jget 'd["data"]["secret_id"]')
printf '%s\n' "$S2" >"$T/secret-id"
chmod 600 "$T/secret-id"
out=$(unset VAULT_TOKEN; VAULT_ROLE_ID=$R2 VAULT_SECRET_ID_FILE=$T/secret-id $V renew keybroker/app/short 5) ||
	kb_fail "max-TTL run failed: $out"
echo "$out" | grep -Eq '^logins=[2-9]' || kb_fail "no fresh login at the max TTL: $out"
kb_pass "fresh login at the max TTL, secret id from VAULT_SECRET_ID_FILE ($(echo "$out" | tail -1))"

# A token revoked under a running broker: one fresh login, no failure.
vapi POST auth/approle/role/long '{"token_policies":["broker"],"token_ttl":"1h"}'
R3=$(vapi GET auth/approle/role/long/role-id | jget 'd["data"]["role_id"]')
S3=$(vapi POST auth/approle/role/long/secret-id | jget 'd["data"]["secret_id"]')
(unset VAULT_TOKEN; VAULT_ROLE_ID=$R3 VAULT_SECRET_ID=$S3 $V renew keybroker/app/revoked 3 >"$T/revoked" 2>&1) &
runner=$!
sleep 1.5
vapi PUT sys/leases/revoke-prefix/auth/approle >/dev/null
wait $runner || kb_fail "a revoked token failed the run: $(cat "$T/revoked")"
grep -q '^logins=2 renewals=0' "$T/revoked" || kb_fail "expected a second login: $(cat "$T/revoked")"
kb_pass "revoked AppRole token: the broker logs in again"

# A renewable VAULT_TOKEN in a long-running process: looked up, renewed.
ST=$(vapi POST auth/token/create '{"policies":["broker"],"ttl":"3s","renewable":true}' | jget 'd["auth"]["client_token"]')
out=$(VDRIVER_LOOKUP_NOW=1 VAULT_TOKEN=$ST $V renew keybroker/app/static 4) || kb_fail "static token run: $out"
echo "$out" | grep -Eq '^logins=0 renewals=[1-9]' || kb_fail "static token not renewed: $out"
# Without the lookup (a short CLI run) the same kind of token just expires.
ST=$(vapi POST auth/token/create '{"policies":["broker"],"ttl":"2s","renewable":true}' | jget 'd["auth"]["client_token"]')
VAULT_TOKEN=$ST expect_fail 5 'Vault denied access' $V renew keybroker/app/static 3
kb_pass "renewable VAULT_TOKEN renewed in a long-running process ($(echo "$out" | tail -1))"

(unset VAULT_TOKEN; VAULT_ROLE_ID=$ROLE VAULT_SECRET_ID=wrong expect_fail 5 \
	'AppRole login rejected \(400 invalid role or secret ID\): check VAULT_ROLE_ID' $V get keybroker/app/renew) || exit 1
(unset VAULT_TOKEN; VAULT_ROLE_ID=$ROLE expect_fail 5 'no secret id: set VAULT_SECRET_ID' $V get keybroker/app/renew) ||
	exit 1
SHORT=$(vapi POST auth/token/create '{"policies":["broker"],"ttl":"1s"}' | jget 'd["auth"]["client_token"]')
sleep 1.5
VAULT_TOKEN=$SHORT expect_fail 5 'Vault denied access .*has not expired' $V get keybroker/app/renew
kb_pass "wrong secret id, missing secret id, expired token: clear messages"

# Namespaces: same name, separate trees.
printf 'in a' >"$T/a"
printf 'in b' >"$T/b"
VAULT_NAMESPACE=team-a $V put keybroker/db/main "$T/a" >/dev/null || kb_fail "put in team-a"
VAULT_NAMESPACE=team-b $V put keybroker/db/main "$T/b" >/dev/null || kb_fail "put in team-b"
[ "$(VAULT_NAMESPACE=team-a $V get keybroker/db/main 2>/dev/null)" = "in a" ] || kb_fail "team-a value"
[ "$(VAULT_NAMESPACE=team-b/ $V get keybroker/db/main 2>/dev/null)" = "in b" ] || kb_fail "team-b value"
expect_fail 4 'no secret keybroker/db/main' $V get keybroker/db/main
[ "$(VAPI_NS=team-a vapi GET secret/data/keybroker/db/main | jget 'd["data"]["data"]["value"]')" = "in a" ] ||
	kb_fail "team-a's secret is not in team-a's tree"
[ -z "$($V ls keybroker/db/)" ] || kb_fail "the root namespace lists team secrets"
# A token made inside team-a cannot reach team-b.
VAPI_NS=team-a vapi PUT sys/policies/acl/broker "$policy"
TA=$(VAPI_NS=team-a vapi POST auth/token/create '{"policies":["broker"],"ttl":"1h"}' | jget 'd["auth"]["client_token"]')
[ "$(VAULT_NAMESPACE=team-a VAULT_TOKEN=$TA $V get keybroker/db/main 2>/dev/null)" = "in a" ] || kb_fail "team-a token"
VAULT_NAMESPACE=team-b VAULT_TOKEN=$TA expect_fail 5 'Vault denied access' $V get keybroker/db/main
# AppRole inside a namespace.
VAPI_NS=team-a vapi POST auth/approle/role/app '{"token_policies":["broker"],"token_ttl":"1h"}'
RA=$(VAPI_NS=team-a vapi GET auth/approle/role/app/role-id | jget 'd["data"]["role_id"]')
SA=$(VAPI_NS=team-a vapi POST auth/approle/role/app/secret-id | jget 'd["data"]["secret_id"]')
(unset VAULT_TOKEN; [ "$(VAULT_NAMESPACE=team-a VAULT_ROLE_ID=$RA VAULT_SECRET_ID=$SA $V get keybroker/db/main 2>/dev/null)" = "in a" ]) ||
	kb_fail "AppRole login in a namespace"
kb_pass "namespaces isolate trees, tokens and AppRoles"
