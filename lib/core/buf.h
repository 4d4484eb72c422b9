/* kb_buf: the one bounded buffer every byte of wire data goes through.
 *
 * A buffer holds bytes [off, len) of data.  Reads consume from off, writes
 * append at len.  Every buffer has a maximum size fixed at init; a write that
 * would exceed it fails with KB_ERR_TOO_LARGE before allocating.  Reads check
 * the remaining length before touching memory and fail with
 * KB_ERR_TRUNCATED, leaving the buffer unchanged.
 *
 * Three flavours:
 *   kb_buf_init()        growable, malloc-backed, wiped when grown or freed;
 *   kb_buf_init_secure() growable, sodium_malloc-backed (guard pages, mlock),
 *                        for private key material;
 *   kb_buf_init_ro()     a read-only view of memory owned by someone else
 *                        (also what kb_buf_get_sub() produces).
 *
 * kb_buf_done() accepts a zeroed or half-initialised buffer and always wipes.
 * Wire encoding is SSH's (RFC 4251): big-endian integers, u32-length strings,
 * two's-complement mpints. */
#ifndef KB_BUF_H
#define KB_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KB_BUF_MAX_DEFAULT (256u * 1024u)

struct kb_buf {
	uint8_t *data;
	size_t off;   /* read position */
	size_t len;   /* end of valid data */
	size_t cap;   /* allocated bytes (0 for read-only views) */
	size_t max;   /* hard limit on len */
	unsigned flags;
};

void kb_buf_init(struct kb_buf *b, size_t max);
void kb_buf_init_secure(struct kb_buf *b, size_t max);
void kb_buf_init_ro(struct kb_buf *b, const void *data, size_t len);
void kb_buf_done(struct kb_buf *b);
/* Wipes and empties the buffer, keeping its memory and flavour. */
void kb_buf_reset(struct kb_buf *b);

static inline size_t kb_buf_remaining(const struct kb_buf *b) { return b->len - b->off; }
static inline const uint8_t *kb_buf_ptr(const struct kb_buf *b) { return b->data + b->off; }
bool kb_buf_is_secure(const struct kb_buf *b);

/* Writers. */
int kb_buf_reserve(struct kb_buf *b, size_t n, uint8_t **ret_ptr);
int kb_buf_put(struct kb_buf *b, const void *p, size_t n);
int kb_buf_put_u8(struct kb_buf *b, uint8_t v);
int kb_buf_put_u32(struct kb_buf *b, uint32_t v);
int kb_buf_put_u64(struct kb_buf *b, uint64_t v);
int kb_buf_put_string(struct kb_buf *b, const void *p, size_t n);
int kb_buf_put_cstring(struct kb_buf *b, const char *s);
/* Appends the unread part of src as one string. */
int kb_buf_put_stringb(struct kb_buf *b, const struct kb_buf *src);
/* Appends a non-negative big-endian magnitude as an SSH mpint (leading
 * zeros stripped, a 0x00 prefix added when the top bit is set). */
int kb_buf_put_mpint(struct kb_buf *b, const uint8_t *be, size_t n);
/* Overwrites the u32 at byte offset `at` (for length-prefixed frames). */
int kb_buf_patch_u32(struct kb_buf *b, size_t at, uint32_t v);

/* Readers: on error nothing is consumed. */
int kb_buf_get(struct kb_buf *b, void *out, size_t n);
int kb_buf_skip(struct kb_buf *b, size_t n);
int kb_buf_get_u8(struct kb_buf *b, uint8_t *ret);
int kb_buf_get_u32(struct kb_buf *b, uint32_t *ret);
int kb_buf_get_u64(struct kb_buf *b, uint64_t *ret);
int kb_buf_peek_u8(const struct kb_buf *b, uint8_t *ret);
int kb_buf_peek_u32(const struct kb_buf *b, uint32_t *ret);
/* A string's bytes, pointing into the buffer (valid while b is). */
int kb_buf_get_string_direct(struct kb_buf *b, const uint8_t **ret_p, size_t *ret_len);
/* A string as a read-only child view (for nested structures). */
int kb_buf_get_sub(struct kb_buf *b, struct kb_buf *ret_child);
/* A string copied into a new NUL-terminated heap string; rejects embedded
 * NUL (KB_ERR_EMBEDDED_NUL).  *ret is NULL on error.  Free with free(). */
int kb_buf_get_cstring(struct kb_buf *b, char **ret);
/* An mpint that must be non-negative and minimally encoded; returns the
 * magnitude without its 0x00 sign prefix. */
int kb_buf_get_mpint_direct(struct kb_buf *b, const uint8_t **ret_p, size_t *ret_len);
/* KB_ERR_TRAILING unless everything has been read. */
int kb_buf_expect_end(const struct kb_buf *b);

/* Base64 (standard alphabet, padded), constant time via libsodium. */
int kb_buf_put_base64(struct kb_buf *b, const uint8_t *p, size_t n);
/* Decodes text (whitespace ignored) and appends the bytes to out. */
int kb_buf_put_from_base64(struct kb_buf *out, const char *text, size_t n);

#endif
