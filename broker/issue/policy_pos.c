/* A small position-recording pass over JSON text.  It runs only on text
 * jansson has already parsed, so it can assume the grammar holds; it still
 * checks every bound so that a disagreement can never read out of range. */
#include "policy_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

struct scan {
	const char *s;
	size_t len, pos;
	unsigned line, col;
	struct kb_jpos_map *m;
	char *path;
	size_t pathcap;
	unsigned errline, errcol;
};

static void adv(struct scan *sc)
{
	if (sc->pos >= sc->len)
		return;
	if (sc->s[sc->pos] == '\n') {
		sc->line++;
		sc->col = 1;
	} else if (((unsigned char)sc->s[sc->pos] & 0xc0) != 0x80) {
		sc->col++; /* count characters, not UTF-8 continuation bytes */
	}
	sc->pos++;
}

static void skip_ws(struct scan *sc)
{
	while (sc->pos < sc->len && strchr(" \t\r\n", sc->s[sc->pos]) != NULL && sc->s[sc->pos] != '\0')
		adv(sc);
}

static int peek(const struct scan *sc)
{
	return sc->pos < sc->len ? (unsigned char)sc->s[sc->pos] : -1;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static size_t put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static uint32_t read_u4(struct scan *sc)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(peek(sc));
		if (h < 0)
			return 0xfffd;
		v = v * 16 + (uint32_t)h;
		adv(sc);
	}
	return v;
}

/* Reads a string; decodes it into out (heap, NUL-terminated) when out is
 * non-NULL.  Decoded text is never longer than the raw text. */
static int scan_string(struct scan *sc, char **out)
{
	size_t start = sc->pos, n = 0;
	char *buf = NULL;

	if (peek(sc) != '"')
		return KB_ERR_INVALID;
	adv(sc);
	if (out != NULL) {
		buf = malloc(sc->len - start + 1);
		if (buf == NULL)
			return KB_ERR_NOMEM;
	}
	for (;;) {
		int c = peek(sc);
		if (c < 0) {
			free(buf);
			return KB_ERR_INVALID;
		}
		if (c == '"') {
			adv(sc);
			break;
		}
		if (c != '\\') {
			if (buf)
				buf[n++] = (char)c;
			adv(sc);
			continue;
		}
		adv(sc);
		c = peek(sc);
		adv(sc);
		char esc = 0;
		switch (c) {
		case '"': esc = '"'; break;
		case '\\': esc = '\\'; break;
		case '/': esc = '/'; break;
		case 'b': esc = '\b'; break;
		case 'f': esc = '\f'; break;
		case 'n': esc = '\n'; break;
		case 'r': esc = '\r'; break;
		case 't': esc = '\t'; break;
		case 'u': {
			uint32_t cp = read_u4(sc);
			if (cp >= 0xd800 && cp < 0xdc00 && peek(sc) == '\\') {
				adv(sc);
				if (peek(sc) == 'u') {
					adv(sc);
					uint32_t lo = read_u4(sc);
					if (lo >= 0xdc00 && lo < 0xe000)
						cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				}
			}
			/* "\uXXXX" is 6 raw bytes and at most 4 decoded (8 raw
			 * for a surrogate pair), so the buffer always has room. */
			if (buf)
				n += put_utf8(buf + n, cp);
			continue;
		}
		default:
			free(buf);
			return KB_ERR_INVALID;
		}
		if (buf)
			buf[n++] = esc;
	}
	if (buf) {
		buf[n] = '\0';
		*out = buf;
	}
	return KB_OK;
}

static int record(struct scan *sc, unsigned kl, unsigned kc, unsigned vl, unsigned vc)
{
	struct kb_jpos_map *m = sc->m;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct kb_jpos *v = realloc(m->v, cap * sizeof(*v));
		if (v == NULL)
			return KB_ERR_NOMEM;
		m->v = v;
		m->cap = cap;
	}
	char *p = kb_strdup(sc->path);
	if (p == NULL)
		return KB_ERR_NOMEM;
	m->v[m->n++] = (struct kb_jpos){ p, kl, kc, vl, vc };
	return KB_OK;
}

static int scan_value(struct scan *sc, unsigned depth, unsigned kl, unsigned kc);

static int scan_container(struct scan *sc, unsigned depth, bool object)
{
	size_t base = strlen(sc->path);
	int r = KB_OK;
	unsigned idx = 0;

	adv(sc); /* '{' or '[' */
	skip_ws(sc);
	if (peek(sc) == (object ? '}' : ']')) {
		adv(sc);
		return KB_OK;
	}
	for (;;) {
		unsigned kl = 0, kc = 0;
		char comp[32];
		char *key = NULL;

		skip_ws(sc);
		if (object) {
			kl = sc->line;
			kc = sc->col;
			if ((r = scan_string(sc, &key)) != KB_OK)
				return r;
			skip_ws(sc);
			if (peek(sc) != ':') {
				free(key);
				return KB_ERR_INVALID;
			}
			adv(sc);
		} else {
			snprintf(comp, sizeof(comp), "%u", idx++);
		}
		/* The path buffer is as long as the document plus escapes,
		 * so a component always fits; check anyway. */
		bool ok = kb_jpos_push(sc->path, sc->pathcap, object ? key : comp);
		free(key);
		if (!ok)
			return KB_ERR_INVALID;
		skip_ws(sc);
		r = scan_value(sc, depth + 1, kl, kc);
		sc->path[base] = '\0';
		if (r != KB_OK)
			return r;
		skip_ws(sc);
		int c = peek(sc);
		adv(sc);
		if (c == ',')
			continue;
		if (c == (object ? '}' : ']'))
			return KB_OK;
		return KB_ERR_INVALID;
	}
}

static int scan_value(struct scan *sc, unsigned depth, unsigned kl, unsigned kc)
{
	int r;

	if (depth > KB_JPOS_MAX_DEPTH) {
		sc->errline = sc->line;
		sc->errcol = sc->col;
		return kb_err_set(KB_ERR_INVALID, "nested more than %d levels deep", KB_JPOS_MAX_DEPTH);
	}
	if ((r = record(sc, kl, kc, sc->line, sc->col)) != KB_OK)
		return r;
	int c = peek(sc);
	if (c == '{' || c == '[')
		return scan_container(sc, depth, c == '{');
	if (c == '"')
		return scan_string(sc, NULL);
	/* Numbers, true, false, null. */
	if (c < 0)
		return KB_ERR_INVALID;
	while (sc->pos < sc->len && strchr(",]} \t\r\n", sc->s[sc->pos]) == NULL)
		adv(sc);
	return KB_OK;
}

int kb_jpos_scan(const char *text, size_t len, struct kb_jpos_map *m, unsigned *ret_line,
		 unsigned *ret_col)
{
	struct scan sc = { .s = text, .len = len, .line = 1, .col = 1, .m = m };
	int r;

	*ret_line = *ret_col = 0;
	/* Worst case every byte becomes "~0" or "~1" plus separators. */
	sc.pathcap = 2 * len + 16;
	sc.path = calloc(1, sc.pathcap);
	if (sc.path == NULL)
		return KB_ERR_NOMEM;
	skip_ws(&sc);
	r = scan_value(&sc, 0, 0, 0);
	if (r == KB_ERR_INVALID) {
		*ret_line = sc.errline ? sc.errline : sc.line;
		*ret_col = sc.errline ? sc.errcol : sc.col;
	}
	free(sc.path);
	return r;
}

void kb_jpos_done(struct kb_jpos_map *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	m->v = NULL;
	m->n = m->cap = 0;
}

void kb_jpos_find(const struct kb_jpos_map *m, const char *path, bool prefer_key, unsigned *line,
		  unsigned *col)
{
	char tmp[1024];

	kb_strlcpy(tmp, path, sizeof(tmp));
	for (;;) {
		for (size_t i = 0; i < m->n; i++) {
			if (strcmp(m->v[i].path, tmp) != 0)
				continue;
			if (prefer_key && m->v[i].kline != 0) {
				*line = m->v[i].kline;
				*col = m->v[i].kcol;
			} else {
				*line = m->v[i].vline;
				*col = m->v[i].vcol;
			}
			return;
		}
		char *slash = strrchr(tmp, '/');
		if (slash == NULL) {
			if (tmp[0] == '\0')
				break;
			tmp[0] = '\0';
		} else {
			*slash = '\0';
		}
		prefer_key = true;
	}
	*line = 1;
	*col = 1;
}

bool kb_jpos_push(char *path, size_t n, const char *component)
{
	size_t at = strlen(path);

	if (at + 1 >= n)
		return false;
	path[at++] = '/';
	for (const char *c = component; *c; c++) {
		const char *rep = *c == '~' ? "~0" : *c == '/' ? "~1" : NULL;
		size_t k = rep ? 2 : 1;
		if (at + k >= n)
			return false;
		if (rep) {
			path[at++] = rep[0];
			path[at++] = rep[1];
		} else {
			path[at++] = *c;
		}
	}
	path[at] = '\0';
	return true;
}
