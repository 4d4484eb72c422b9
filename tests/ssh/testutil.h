/* Helpers for the ssh-area unit tests. */
#ifndef KB_SSH_TESTUTIL_H
#define KB_SSH_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"

static const char *fixdir = ".";

/* Reads FIXDIR/name into a NUL-terminated heap string; NULL on error. */
static inline char *read_fixture(const char *name, size_t *ret_len)
{
	struct kb_buf b;
	char *path = kb_asprintf("%s/%s", fixdir, name), *s = NULL;

	kb_buf_init(&b, 1024 * 1024);
	if (path != NULL && kb_read_file(path, 1024 * 1024, &b) == 0 && kb_buf_put_u8(&b, 0) == 0) {
		s = malloc(b.len);
		if (s != NULL) {
			memcpy(s, b.data, b.len);
			if (ret_len != NULL)
				*ret_len = b.len - 1;
		}
	}
	if (s == NULL)
		printf("# cannot read fixture %s\n", path ? path : name);
	free(path);
	kb_buf_done(&b);
	return s;
}

static inline size_t hex_decode(const char *hex, uint8_t *out, size_t max)
{
	size_t n = 0;
	for (; hex[0] && hex[1] && n < max; hex += 2) {
		unsigned v;
		if (sscanf(hex, "%2x", &v) != 1)
			break;
		out[n++] = (uint8_t)v;
	}
	return n;
}

#endif
