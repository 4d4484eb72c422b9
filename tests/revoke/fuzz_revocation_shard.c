/* Fuzz target: the revocation shard parser (keybroker/revocations/shards/ID),
 * the encoder (what parses must encode and parse back to the same entries),
 * the prune predicate and the KRL built from the entries. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cert/krl.h"
#include "core/buf.h"
#include "core/mem.h"
#include "revoke/revoke.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc = NULL, *back = NULL;
	struct kb_krl *krl = NULL;
	char *text = NULL;
	size_t len = 0, i;
	json_t *e;

	if (kb_revocation_shard_parse((const char *)data, size, &doc) != 0)
		return 0;
	json_array_foreach(json_object_get(doc, "entries"), i, e) {
		uint8_t d[16];
		kb_revocation_entry_digest(e, d);
		(void)kb_revocation_expired(e, 1700000000);
	}
	if (kb_revocation_shard_encode(json_object_get(doc, "entries"), &text, &len) == 0) {
		if (kb_revocation_shard_parse(text, len, &back) != 0 ||
		    !json_equal(json_object_get(doc, "entries"), json_object_get(back, "entries")))
			__builtin_trap(); /* what we write must read back the same */
		kb_json_free_string(text);
		json_decref(back);
	}
	if (kb_krl_new(&krl) == 0)
		(void)kb_revocations_build_krl(doc, krl, NULL);
	kb_krl_free(krl);
	json_decref(doc);
	return 0;
}
