/* Fuzz target: the static credential parser (with and without the private
 * key); what parses with its private key must build and parse back to the
 * same key and targets. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "rotate/static_cred.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return kb_init();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kb_static_cred *c = NULL, *back = NULL;
	struct kb_buf out;

	if (kb_static_cred_parse((const char *)data, size, false, &c) == 0)
		kb_static_cred_free(c);
	c = NULL;
	if (kb_static_cred_parse((const char *)data, size, true, &c) != 0)
		return 0;
	kb_buf_init_secure(&out, KB_STORE_VALUE_MAX);
	if (kb_static_cred_build(c, "keybroker/static/fuzz", &out) != 0 ||
	    kb_static_cred_parse((const char *)kb_buf_ptr(&out), kb_buf_remaining(&out), true, &back) != 0 ||
	    !kb_key_equal_public(c->key, back->key) || back->ntargets != c->ntargets ||
	    memcmp(back->targets, c->targets, c->ntargets * sizeof(*c->targets)) != 0)
		__builtin_trap();
	kb_static_cred_free(back);
	kb_static_cred_free(c);
	kb_buf_done(&out);
	return 0;
}
