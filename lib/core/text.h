/* A growable text buffer for building human-readable output (not for wire
 * data or secrets: use kb_buf for those).
 *
 *   struct kb_text t = { 0 };
 *   kb_text_add(&t, "Serial: %llu\n", serial);
 *   if (t.err) { free(t.s); return t.err; }
 *   ... use t.s (NULL when nothing was added) ... free(t.s);
 *
 * After the first failure every later add is a no-op and t.err keeps the
 * error (KB_ERR_NOMEM or KB_ERR_INTERNAL). */
#ifndef KB_TEXT_H
#define KB_TEXT_H

#include <stddef.h>

struct kb_text {
	char *s;
	size_t len, cap;
	int err;
};

void kb_text_add(struct kb_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
