#include "ctx.h"

#include <stdarg.h>
#include <stdio.h>

#include <jansson.h>

#include "core/err.h"
#include "core/mem.h"

int kb_exit_for(int err)
{
	switch (err) {
	case KB_OK:
		return KB_EXIT_OK;
	case KB_ERR_ARGS:
		return KB_EXIT_USAGE;
	case KB_ERR_DENIED:
		return KB_EXIT_DENIED;
	case KB_ERR_NOT_FOUND:
		return KB_EXIT_NOT_FOUND;
	case KB_ERR_BACKEND:
	case KB_ERR_NETWORK:
	case KB_ERR_TIMEOUT:
	case KB_ERR_THROTTLED:
	case KB_ERR_SEALED:
	case KB_ERR_AUTH:
		return KB_EXIT_BACKEND;
	case KB_ERR_SIGNATURE:
	case KB_ERR_REVOKED:
		return KB_EXIT_VERIFY;
	default:
		return KB_EXIT_FAILURE;
	}
}

int kb_fail(const struct kb_ctx *ctx, int err, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	(void)ctx;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	const char *detail = kb_err_detail();
	if (detail[0] != '\0')
		fprintf(stderr, "broker: %s: %s (%s)\n", what, kb_err_str(err), detail);
	else
		fprintf(stderr, "broker: %s: %s\n", what, kb_err_str(err));
	return kb_exit_for(err);
}

int kb_usage_error(const struct kb_ctx *ctx, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	(void)ctx;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "broker: %s\n", msg);
	return KB_EXIT_USAGE;
}

void kb_print_json(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

	json_decref(j);
	if (s != NULL)
		puts(s);
	kb_json_free_string(s);
}
