/* Fuzz target: public key and certificate blobs (kb_key_from_blob). */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "ssh/key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kb_key *k = NULL, *d = NULL;
	struct kb_buf out;
	char fp[KB_KEY_FP_MAX], *line = NULL;

	kb_init();
	if (kb_key_from_blob(data, size, &k) != 0)
		return 0;
	/* What parsed must encode back to the same bytes. */
	kb_buf_init(&out, KB_KEY_BLOB_MAX);
	if (kb_key_public_blob(k, &out) != 0 || kb_buf_remaining(&out) != size ||
	    memcmp(kb_buf_ptr(&out), data, size) != 0)
		abort();
	if (kb_key_fingerprint(k, fp, sizeof(fp)) != 0 || kb_key_format_public_line(k, "c", &line) != 0)
		abort();
	if (kb_key_dup_public(k, &d) != 0 || !kb_key_equal_public(k, d))
		abort();
	free(line);
	kb_key_free(d);
	kb_key_free(k);
	kb_buf_done(&out);
	return 0;
}
