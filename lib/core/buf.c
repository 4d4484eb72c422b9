#include "core/buf.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/err.h"

#define KB_BUF_F_SECURE 1u
#define KB_BUF_F_RO 2u

void kb_buf_init(struct kb_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void kb_buf_init_secure(struct kb_buf *b, size_t max)
{
	kb_buf_init(b, max);
	b->flags = KB_BUF_F_SECURE;
}

void kb_buf_init_ro(struct kb_buf *b, const void *data, size_t len)
{
	memset(b, 0, sizeof(*b));
	/* The cast is confined here: RO buffers are never written. */
	b->data = (uint8_t *)(uintptr_t)data;
	b->len = len;
	b->max = len;
	b->flags = KB_BUF_F_RO;
}

bool kb_buf_is_secure(const struct kb_buf *b)
{
	return (b->flags & KB_BUF_F_SECURE) != 0;
}

static void release(struct kb_buf *b)
{
	if (b->data == NULL || (b->flags & KB_BUF_F_RO))
		return;
	if (b->flags & KB_BUF_F_SECURE) {
		sodium_free(b->data);
	} else {
		sodium_memzero(b->data, b->cap);
		free(b->data);
	}
}

void kb_buf_done(struct kb_buf *b)
{
	if (b == NULL)
		return;
	release(b);
	unsigned flags = b->flags & KB_BUF_F_SECURE;
	memset(b, 0, sizeof(*b));
	b->flags = flags;
}

void kb_buf_reset(struct kb_buf *b)
{
	if (b->flags & KB_BUF_F_RO) {
		b->off = b->len = 0;
		return;
	}
	if (b->data != NULL)
		sodium_memzero(b->data, b->cap);
	b->off = b->len = 0;
}

int kb_buf_reserve(struct kb_buf *b, size_t n, uint8_t **ret_ptr)
{
	if (b->flags & KB_BUF_F_RO)
		return KB_ERR_INTERNAL;
	if (n > b->max || b->len > b->max - n)
		return KB_ERR_TOO_LARGE;
	size_t need = b->len + n;
	if (need > b->cap) {
		/* Compact consumed bytes first so long-lived buffers stay small. */
		size_t newcap = b->cap < 64 ? 64 : b->cap;
		while (newcap < need)
			newcap = newcap > SIZE_MAX / 2 ? need : newcap * 2;
		if (newcap > b->max)
			newcap = b->max;
		uint8_t *p = (b->flags & KB_BUF_F_SECURE) ? sodium_malloc(newcap) : malloc(newcap);
		if (p == NULL)
			return KB_ERR_NOMEM;
		if (b->data != NULL)
			memcpy(p, b->data, b->len);
		release(b);
		b->data = p;
		b->cap = newcap;
	}
	*ret_ptr = b->data + b->len;
	b->len += n;
	return KB_OK;
}

int kb_buf_put(struct kb_buf *b, const void *p, size_t n)
{
	uint8_t *dst;
	int r;

	if (n == 0)
		return KB_OK;
	if ((r = kb_buf_reserve(b, n, &dst)) != KB_OK)
		return r;
	memcpy(dst, p, n);
	return KB_OK;
}

int kb_buf_put_u8(struct kb_buf *b, uint8_t v)
{
	return kb_buf_put(b, &v, 1);
}

int kb_buf_put_u32(struct kb_buf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	return kb_buf_put(b, x, 4);
}

int kb_buf_put_u64(struct kb_buf *b, uint64_t v)
{
	uint8_t x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (56 - 8 * i));
	return kb_buf_put(b, x, 8);
}

int kb_buf_put_string(struct kb_buf *b, const void *p, size_t n)
{
	int r;

	if (n > UINT32_MAX)
		return KB_ERR_TOO_LARGE;
	if (n > b->max || b->len > b->max - n || b->max - b->len - n < 4)
		return KB_ERR_TOO_LARGE;
	if ((r = kb_buf_put_u32(b, (uint32_t)n)) != KB_OK)
		return r;
	return kb_buf_put(b, p, n);
}

int kb_buf_put_cstring(struct kb_buf *b, const char *s)
{
	return kb_buf_put_string(b, s, s == NULL ? 0 : strlen(s));
}

int kb_buf_put_stringb(struct kb_buf *b, const struct kb_buf *src)
{
	return kb_buf_put_string(b, kb_buf_ptr(src), kb_buf_remaining(src));
}

int kb_buf_put_mpint(struct kb_buf *b, const uint8_t *be, size_t n)
{
	int r;

	while (n > 0 && be[0] == 0) {
		be++;
		n--;
	}
	bool prefix = n > 0 && (be[0] & 0x80);
	size_t total = n + (prefix ? 1 : 0);
	if (total > UINT32_MAX)
		return KB_ERR_TOO_LARGE;
	if (total > b->max || b->len > b->max - total || b->max - b->len - total < 4)
		return KB_ERR_TOO_LARGE;
	if ((r = kb_buf_put_u32(b, (uint32_t)total)) != KB_OK)
		return r;
	if (prefix && (r = kb_buf_put_u8(b, 0)) != KB_OK)
		return r;
	return kb_buf_put(b, be, n);
}

int kb_buf_patch_u32(struct kb_buf *b, size_t at, uint32_t v)
{
	if (at > b->len || b->len - at < 4 || (b->flags & KB_BUF_F_RO))
		return KB_ERR_INTERNAL;
	b->data[at] = (uint8_t)(v >> 24);
	b->data[at + 1] = (uint8_t)(v >> 16);
	b->data[at + 2] = (uint8_t)(v >> 8);
	b->data[at + 3] = (uint8_t)v;
	return KB_OK;
}

int kb_buf_get(struct kb_buf *b, void *out, size_t n)
{
	if (kb_buf_remaining(b) < n)
		return KB_ERR_TRUNCATED;
	if (n > 0)
		memcpy(out, b->data + b->off, n);
	b->off += n;
	return KB_OK;
}

int kb_buf_skip(struct kb_buf *b, size_t n)
{
	if (kb_buf_remaining(b) < n)
		return KB_ERR_TRUNCATED;
	b->off += n;
	return KB_OK;
}

int kb_buf_peek_u8(const struct kb_buf *b, uint8_t *ret)
{
	if (kb_buf_remaining(b) < 1)
		return KB_ERR_TRUNCATED;
	*ret = b->data[b->off];
	return KB_OK;
}

int kb_buf_peek_u32(const struct kb_buf *b, uint32_t *ret)
{
	if (kb_buf_remaining(b) < 4)
		return KB_ERR_TRUNCATED;
	const uint8_t *p = b->data + b->off;
	*ret = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	return KB_OK;
}

int kb_buf_get_u8(struct kb_buf *b, uint8_t *ret)
{
	int r = kb_buf_peek_u8(b, ret);
	if (r == KB_OK)
		b->off++;
	return r;
}

int kb_buf_get_u32(struct kb_buf *b, uint32_t *ret)
{
	int r = kb_buf_peek_u32(b, ret);
	if (r == KB_OK)
		b->off += 4;
	return r;
}

int kb_buf_get_u64(struct kb_buf *b, uint64_t *ret)
{
	if (kb_buf_remaining(b) < 8)
		return KB_ERR_TRUNCATED;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | b->data[b->off + (size_t)i];
	b->off += 8;
	*ret = v;
	return KB_OK;
}

int kb_buf_get_string_direct(struct kb_buf *b, const uint8_t **ret_p, size_t *ret_len)
{
	uint32_t n;

	if (kb_buf_peek_u32(b, &n) != KB_OK)
		return KB_ERR_TRUNCATED;
	if (kb_buf_remaining(b) - 4 < n)
		return KB_ERR_TRUNCATED;
	*ret_p = b->data + b->off + 4;
	*ret_len = n;
	b->off += 4 + (size_t)n;
	return KB_OK;
}

int kb_buf_get_sub(struct kb_buf *b, struct kb_buf *ret_child)
{
	const uint8_t *p;
	size_t n;
	int r;

	if ((r = kb_buf_get_string_direct(b, &p, &n)) != KB_OK)
		return r;
	kb_buf_init_ro(ret_child, p, n);
	return KB_OK;
}

int kb_buf_get_cstring(struct kb_buf *b, char **ret)
{
	const uint8_t *p;
	size_t n, save = b->off;
	int r;

	*ret = NULL;
	if ((r = kb_buf_get_string_direct(b, &p, &n)) != KB_OK)
		return r;
	if (n > 0 && memchr(p, '\0', n) != NULL) {
		b->off = save;
		return KB_ERR_EMBEDDED_NUL;
	}
	char *s = malloc(n + 1);
	if (s == NULL) {
		b->off = save;
		return KB_ERR_NOMEM;
	}
	if (n > 0)
		memcpy(s, p, n);
	s[n] = '\0';
	*ret = s;
	return KB_OK;
}

int kb_buf_get_mpint_direct(struct kb_buf *b, const uint8_t **ret_p, size_t *ret_len)
{
	const uint8_t *p;
	size_t n, save = b->off;
	int r;

	if ((r = kb_buf_get_string_direct(b, &p, &n)) != KB_OK)
		return r;
	if (n > 0 && (p[0] & 0x80)) {
		b->off = save;
		return KB_ERR_INVALID; /* negative */
	}
	if (n > 1 && p[0] == 0 && !(p[1] & 0x80)) {
		b->off = save;
		return KB_ERR_INVALID; /* not minimal */
	}
	if (n == 1 && p[0] == 0) {
		b->off = save;
		return KB_ERR_INVALID; /* zero is the empty string */
	}
	if (n > 0 && p[0] == 0) {
		p++;
		n--;
	}
	*ret_p = p;
	*ret_len = n;
	return KB_OK;
}

int kb_buf_expect_end(const struct kb_buf *b)
{
	return kb_buf_remaining(b) == 0 ? KB_OK : KB_ERR_TRAILING;
}

int kb_buf_put_base64(struct kb_buf *b, const uint8_t *p, size_t n)
{
	size_t enc = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
	uint8_t *dst;
	int r;

	/* enc counts the NUL terminator, which we drop. */
	if ((r = kb_buf_reserve(b, enc, &dst)) != KB_OK)
		return r;
	sodium_bin2base64((char *)dst, enc, p, n, sodium_base64_VARIANT_ORIGINAL);
	b->len--;
	return KB_OK;
}

int kb_buf_put_from_base64(struct kb_buf *out, const char *text, size_t n)
{
	size_t maxbin = n / 4 * 3 + 3, binlen = 0;
	uint8_t *dst;
	const char *end = NULL;
	int r;

	if ((r = kb_buf_reserve(out, maxbin, &dst)) != KB_OK)
		return r;
	if (sodium_base642bin(dst, maxbin, text, n, " \t\r\n", &binlen, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != text + n) {
		sodium_memzero(dst, maxbin);
		out->len -= maxbin;
		return KB_ERR_INVALID;
	}
	sodium_memzero(dst + binlen, maxbin - binlen);
	out->len -= maxbin - binlen;
	return KB_OK;
}
