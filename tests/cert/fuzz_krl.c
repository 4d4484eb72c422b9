/* Fuzz target: KRL parse, then check a key and a certificate against it,
 * list it and write it back. */
#include <stdint.h>
#include <stdlib.h>

#include "cert/cert.h"
#include "cert/krl.h"
#include "core/mem.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct kb_key *key;
static struct kb_cert *cert;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct kb_key *ca = NULL;

	(void)argc;
	(void)argv;
	kb_init();
	if (kb_key_generate(KB_KEY_ED25519, 0, &key) != 0 || kb_key_generate(KB_KEY_ED25519, 0, &ca) != 0 ||
	    kb_cert_new(KB_CERT_TYPE_USER, key, &cert) != 0 || kb_cert_set_key_id(cert, "id") != 0)
		abort();
	cert->serial = 5;
	if (kb_cert_sign(cert, ca, NULL) != 0)
		abort();
	kb_key_free(ca);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kb_krl *krl = NULL;
	struct kb_buf out;
	char *s = NULL;

	if (kb_krl_parse(data, size, &krl) != 0)
		return 0;
	(void)kb_krl_check_key(krl, key);
	(void)kb_krl_check_cert(krl, cert);
	if (kb_krl_format_text(krl, &s) == 0)
		free(s);
	if (kb_krl_format_json(krl, &s) == 0)
		free(s);
	kb_buf_init(&out, KB_KRL_MAX_SIZE);
	(void)kb_krl_write(krl, &out);
	kb_buf_done(&out);
	kb_krl_free(krl);
	return 0;
}
