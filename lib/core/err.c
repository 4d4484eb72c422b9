#include "core/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char detail[512];

static const char *const messages[] = {
	[0] = "success",
	[1] = "out of memory",
	[2] = "invalid format",
	[3] = "unexpected end of data",
	[4] = "data exceeds size limit",
	[5] = "unexpected trailing data",
	[6] = "not supported",
	[7] = "cryptographic library error",
	[8] = "signature verification failed",
	[9] = "input/output error",
	[10] = "not found",
	[11] = "already exists",
	[12] = "permission denied",
	[13] = "outside validity period",
	[14] = "incorrect passphrase",
	[15] = "denied by policy",
	[16] = "concurrent modification",
	[17] = "timed out",
	[18] = "network error",
	[19] = "backend error",
	[20] = "revoked",
	[21] = "internal error",
	[22] = "string contains a NUL byte",
	[23] = "throttled",
	[24] = "vault is sealed",
	[25] = "authentication failed",
	[26] = "invalid arguments",
	[27] = "limit reached",
};

const char *kb_err_str(int err)
{
	if (err > 0 || err <= KB_ERR__MIN)
		return "unknown error";
	return messages[-err];
}

const char *kb_err_detail(void)
{
	return detail;
}

void kb_err_clear_detail(void)
{
	detail[0] = '\0';
}

int kb_err_set(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return err;
}

int kb_err_errno(const char *what)
{
	int saved = errno;

	snprintf(detail, sizeof(detail), "%s: %s", what, strerror(saved));
	errno = saved;
	if (saved == EACCES || saved == EPERM)
		return KB_ERR_PERMISSION;
	if (saved == ENOENT)
		return KB_ERR_NOT_FOUND;
	if (saved == EEXIST)
		return KB_ERR_EXISTS;
	if (saved == ENOMEM)
		return KB_ERR_NOMEM;
	return KB_ERR_IO;
}
