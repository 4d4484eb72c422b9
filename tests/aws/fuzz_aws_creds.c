/* Fuzz target 'aws_creds': the ~/.aws INI parser (first byte even) and the
 * IMDS instance-credentials document (odd). */
#include <stdint.h>
#include <stdlib.h>

#include "aws/creds.h"
#include "core/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	if (!init) {
		kb_init();
		kb_json_use_wiping_alloc();
		init = 1;
	}
	if (size < 1)
		return 0;
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	if (data[0] & 1) {
		struct kb_aws_creds *c = NULL;
		if (kb_aws_imds_parse_creds(text, len, &c) == 0)
			kb_aws_creds_free(c);
		return 0;
	}
	static const char *const sections[] = { "default", "profile dev", "dev" };
	static const char *const keys[] = { "aws_access_key_id", "aws_secret_access_key", "region" };
	for (size_t i = 0; i < 3; i++) {
		char *v = NULL;
		(void)kb_aws_ini_has_section(text, len, sections[i]);
		if (kb_aws_ini_get(text, len, sections[i], keys[i], i == 1, &v) == 0) {
			if (i == 1)
				kb_secure_free(v);
			else
				free(v);
		}
	}
	return 0;
}
