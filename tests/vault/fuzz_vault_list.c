/* Fuzz target: a KV v2 LIST answer. */
#include <stdlib.h>

#include "fuzz_vault_common.h"
#include "vault/vault_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char **keys;
	size_t n;

	if (kb_vault_parse_list(data, size, &keys, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			free(keys[i]);
		free(keys);
	}
	return 0;
}
