/* Fuzz target: authorized_keys / .pub lines (kb_key_parse_public_line). */
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "ssh/key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kb_key *k = NULL, *k2 = NULL;
	char *s, *comment = NULL, *line = NULL;

	kb_init();
	if (size > 256 * 1024 || (s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (kb_key_parse_public_line(s, &k, &comment) == 0) {
		/* Whatever we accept we can write and read back. */
		if (kb_key_format_public_line(k, comment, &line) != 0 ||
		    kb_key_parse_public_line(line, &k2, NULL) != 0 || !kb_key_equal_public(k, k2) ||
		    kb_key_is_cert(k) != kb_key_is_cert(k2))
			abort();
	}
	free(line);
	free(comment);
	kb_key_free(k);
	kb_key_free(k2);
	free(s);
	return 0;
}
