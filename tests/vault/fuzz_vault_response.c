/* Fuzz target: Vault error bodies and data-write answers. */
#include "fuzz_vault_common.h"
#include "vault/vault_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char msg[256];
	uint64_t v;

	kb_vault_parse_errors(data, size, msg, sizeof(msg));
	kb_vault_parse_write(data, size, &v);
	return 0;
}
