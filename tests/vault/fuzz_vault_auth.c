/* Fuzz target: an auth block (AppRole login, renew-self, token create) and
 * a lookup-self answer. */
#include "fuzz_vault_common.h"
#include "vault/vault_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kb_vault_auth a;
	struct kb_vault_lookup lk;

	if (kb_vault_parse_auth(data, size, &a) == 0)
		kb_vault_auth_done(&a);
	kb_vault_parse_lookup(data, size, &lk);
	return 0;
}
