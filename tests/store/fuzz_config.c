/* Fuzz target 'config': the broker configuration file parser. */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"
#include "core/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kb_config *cfg = NULL;
	if (kb_config_new(&cfg) != KB_OK)
		return 0;
	if (kb_config_parse(cfg, (const char *)data, size, "fuzz") == KB_OK) {
		const char *k;
		for (size_t i = 0; (k = kb_config_key_at(cfg, i)) != NULL; i++)
			if (kb_config_get(cfg, k) == NULL || kb_config_origin(cfg, k) == NULL)
				abort();
	}
	kb_config_free(cfg);
	return 0;
}
