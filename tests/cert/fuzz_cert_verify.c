/* Fuzz target: certificate blob parse + CA signature verification +
 * every display/check path on whatever parses. */
#include <stdint.h>
#include <stdlib.h>

#include "cert/cert.h"
#include "core/mem.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	kb_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kb_cert *c = NULL, *d = NULL;
	char *s = NULL;

	if (kb_cert_parse(data, size, &c) != 0)
		return 0;
	(void)kb_cert_verify(c);
	(void)kb_cert_check_time(c, 1780000000);
	(void)kb_cert_check_principal(c, "root", false);
	if (kb_cert_format_text(c, &s) == 0)
		free(s);
	if (kb_cert_format_json(c, &s) == 0)
		free(s);
	if (kb_cert_format_line(c, "c", &s) == 0)
		free(s);
	for (size_t i = 0; i < c->ncritical; i++)
		if (kb_cert_option_string(&c->critical[i], &s) == 0)
			free(s);
	if (kb_cert_dup(c, &d) == 0)
		(void)kb_cert_verify(d);
	kb_cert_free(d);
	kb_cert_free(c);
	return 0;
}
