/* Fuzz target: openssh-key-v1 files (text starting with "-----BEGIN") and
 * the private key serialisation inside them / in agent add-identity
 * messages (anything else). */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "ssh/key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_private(struct kb_key *k)
{
	struct kb_buf ser;
	struct kb_key *again = NULL;

	kb_buf_init_secure(&ser, KB_KEY_PRIVATE_FILE_MAX);
	if (kb_key_private_serialize(k, &ser) != 0 || kb_key_private_deserialize(&ser, &again) != 0 ||
	    !kb_key_equal_public(k, again) || kb_buf_remaining(&ser) != 0)
		abort();
	kb_key_free(again);
	kb_buf_done(&ser);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kb_key *k = NULL;
	char *comment = NULL;

	kb_init();
	if (size >= 10 && memcmp(data, "-----BEGIN", 10) == 0) {
		if (kb_key_parse_private_file((const char *)data, size, NULL, &k, &comment) == 0)
			check_private(k);
		kb_key_free(k);
		k = NULL;
		if (kb_key_parse_private_file_public((const char *)data, size, &k) == 0 && kb_key_is_private(k))
			abort();
	} else {
		struct kb_buf in;
		kb_buf_init_ro(&in, data, size);
		if (kb_key_private_deserialize(&in, &k) == 0)
			check_private(k);
	}
	free(comment);
	kb_key_free(k);
	return 0;
}
