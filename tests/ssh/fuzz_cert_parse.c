/* Fuzz target: certificate blobs (kb_cert_parse, kb_cert_dup, kb_cert_blob). */
#include <stdlib.h>
#include <string.h>

#include "cert/cert.h"
#include "core/buf.h"
#include "core/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kb_cert *c = NULL, *d = NULL;
	struct kb_buf out;

	kb_init();
	if (kb_cert_parse(data, size, &c) != 0)
		return 0;
	kb_buf_init(&out, KB_KEY_BLOB_MAX);
	if (c->signed_len > size || kb_cert_dup(c, &d) != 0 || kb_cert_blob(d, &out) != 0 ||
	    kb_buf_remaining(&out) != size || memcmp(kb_buf_ptr(&out), data, size) != 0 ||
	    d->nprincipals != c->nprincipals || strcmp(d->key_id, c->key_id) != 0)
		abort();
	/* The signature over the signed part; a forged one must not crash. */
	struct kb_buf in;
	const uint8_t *sig;
	size_t siglen;
	kb_buf_init_ro(&in, data, size);
	in.off = c->signed_len;
	if (kb_buf_get_string_direct(&in, &sig, &siglen) != 0)
		abort();
	(void)kb_key_verify(c->ca_key, sig, siglen, data, c->signed_len, NULL);
	kb_cert_free(c);
	kb_cert_free(d);
	kb_buf_done(&out);
	return 0;
}
