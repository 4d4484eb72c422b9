/* Fuzz target: Terraform state -> inventory document. */
#include <stddef.h>
#include <stdint.h>

#include "fleet/inventory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kb_inventory *inv = NULL;
	json_t *doc = NULL;

	if (kb_inventory_parse((const char *)data, size, &inv) == 0) {
		if (kb_inventory_list_json(inv, "deploy", &doc) == 0)
			json_decref(doc);
		if (inv->nhosts > 0 && kb_inventory_host_json(inv, inv->hosts[0].name, NULL, &doc) == 0)
			json_decref(doc);
	}
	kb_inventory_free(inv);
	return 0;
}
