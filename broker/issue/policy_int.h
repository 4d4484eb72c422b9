/* Internal to the policy engine: the position map that gives every JSON
 * member and element its line and column (jansson does not keep them). */
#ifndef KB_POLICY_INT_H
#define KB_POLICY_INT_H

#include <stdbool.h>
#include <stddef.h>

#define KB_JPOS_MAX_DEPTH 32

struct kb_jpos {
	char *path;          /* JSON Pointer: "/roles/deploy/max_ttl"; the root is "" */
	unsigned kline, kcol; /* the member's key (0 for array elements) */
	unsigned vline, vcol; /* the value */
};

struct kb_jpos_map {
	struct kb_jpos *v;
	size_t n, cap;
};

/* Scans JSON text that jansson has already accepted and records the
 * position of every value.  Returns KB_OK, KB_ERR_NOMEM, or
 * KB_ERR_INVALID (nesting deeper than KB_JPOS_MAX_DEPTH) with *ret_line
 * and *ret_col at the offending value. */
int kb_jpos_scan(const char *text, size_t len, struct kb_jpos_map *m, unsigned *ret_line,
		 unsigned *ret_col);
void kb_jpos_done(struct kb_jpos_map *m);
/* Position of path's key (prefer_key and it is a member) or value; walks up
 * to the nearest recorded ancestor; 1:1 when nothing matches. */
void kb_jpos_find(const struct kb_jpos_map *m, const char *path, bool prefer_key, unsigned *line,
		  unsigned *col);
/* Appends a path component, escaped as in JSON Pointer (~0, ~1), to a
 * NUL-terminated path of capacity n.  Returns false when it does not fit. */
bool kb_jpos_push(char *path, size_t n, const char *component);

#endif
