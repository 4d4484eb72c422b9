/* Fuzz target: a KV v2 metadata read. */
#include "fuzz_vault_common.h"
#include "vault/vault_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kb_vault_meta m;

	if (kb_vault_parse_metadata(data, size, &m) == 0)
		kb_vault_meta_done(&m);
	return 0;
}
