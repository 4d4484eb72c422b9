/* Fuzz target: EC2 Instance Connect active-keys documents. */
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "fleet/eic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static EVP_PKEY *key;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	key = EVP_RSA_gen(2048);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kb_eic_filter f = { .instance_id = "i-0123456789abcdef0", .now = 1800000000, .signer_key = key };
	struct kb_buf out;
	unsigned count = 0;
	char fp[80];

	kb_buf_init(&out, KB_EIC_KEYS_MAX);
	kb_eic_filter_keys((const char *)data, size, &f, &out, &count);
	kb_buf_done(&out);
	f.fingerprint = "SHA256:nIydjBZTKFQhvD69RYjjrt3mlui+/2+LALpO2JvJ4N8";
	kb_buf_init(&out, KB_EIC_KEYS_MAX);
	kb_eic_filter_keys((const char *)data, size, &f, &out, &count);
	kb_buf_done(&out);
	if (size < 4096 && memchr(data, '\0', size) == NULL) {
		char line[4096];
		memcpy(line, data, size);
		line[size] = '\0';
		kb_eic_fingerprint(line, fp, sizeof(fp));
	}
	return 0;
}
