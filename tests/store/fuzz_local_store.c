/* Fuzz target 'local_store': the local store's on-disk parsers.  The first
 * byte picks the parser: 0 metadata plaintext (a parsed document must
 * re-encode to exactly the input), 1 store.info, 2 a sealed file opened
 * with a fixed key. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/buf.h"
#include "core/err.h"
#include "store/store_local.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[32] = { 1, 2, 3 };
	if (size < 1)
		return 0;
	if (sodium_init() < 0)
		abort();
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	switch (data[0] % 3) {
	case 0: {
		struct kb_local_meta *m = NULL;
		if (kb_local_meta_parse(p, n, &m) == KB_OK) {
			struct kb_buf out;
			kb_buf_init(&out, KB_LOCAL_META_MAX);
			if (kb_local_meta_encode(m, &out) != KB_OK || kb_buf_remaining(&out) != n ||
			    memcmp(kb_buf_ptr(&out), p, n) != 0)
				abort(); /* the format must be canonical */
			kb_buf_done(&out);
			kb_local_meta_free(m);
		}
		break;
	}
	case 1: {
		struct kb_local_info info;
		uint8_t body[KB_LOCAL_INFO_LEN - 32];
		if (kb_local_info_parse(p, n, &info) == KB_OK) {
			kb_local_info_encode_body(&info, body);
			if (memcmp(body, p, sizeof(body)) != 0)
				abort();
		}
		break;
	}
	default: {
		struct kb_buf out;
		kb_buf_init_secure(&out, KB_LOCAL_META_MAX);
		kb_local_unseal(key, KB_LOCAL_KIND_VALUE, (const uint8_t *)"bind", 4, p, n, &out);
		kb_buf_done(&out);
		break;
	}
	}
	return 0;
}
