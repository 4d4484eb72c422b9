/* Fuzz target 'aws_response': every AWS JSON response parser.  The first
 * byte picks the parser, the rest is the HTTP body. */
#include <stdint.h>
#include <stdlib.h>

#include "aws/aws_json.h"
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
	uint8_t sel = data[0] % 7;
	const uint8_t *body = data + 1;
	size_t len = size - 1;
	json_t *doc = NULL;
	char *ver = NULL, *next = NULL, code[64], msg[256];
	struct kb_buf out;
	struct kb_secret_info *info = NULL;
	char **names = NULL;
	size_t n = 0;

	switch (sel) {
	case 0:
		if (kb_aws_parse_doc(body, len, &doc) == 0)
			json_decref(doc);
		break;
	case 1:
		kb_aws_parse_error(body, len, code, sizeof(code), msg, sizeof(msg));
		break;
	case 2:
		kb_buf_init_secure(&out, KB_STORE_VALUE_MAX);
		(void)kb_aws_parse_get_secret(body, len, &out, &ver);
		kb_buf_done(&out);
		break;
	case 3:
		(void)kb_aws_parse_version_id(body, len, &ver);
		break;
	case 4:
		(void)kb_aws_parse_describe(body, len, &info);
		break;
	case 5:
		info = calloc(1, sizeof(*info));
		if (info != NULL)
			(void)kb_aws_parse_version_list(body, len, info, &next);
		break;
	default:
		(void)kb_aws_parse_list(body, len, &names, &n, &next);
		break;
	}
	free(ver);
	free(next);
	if (info != NULL) {
		free(info->name);
		free(info->versions);
		free(info);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return 0;
}
