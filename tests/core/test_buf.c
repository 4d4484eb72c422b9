#include <stdlib.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "kbtest.h"

static void test_roundtrip(void)
{
	struct kb_buf b;
	uint8_t u8;
	uint32_t u32;
	uint64_t u64;
	char *s = NULL;

	kb_buf_init(&b, 1024);
	KBT_CHECK_INT(kb_buf_put_u8(&b, 0xab), KB_OK);
	KBT_CHECK_INT(kb_buf_put_u32(&b, 0xdeadbeef), KB_OK);
	KBT_CHECK_INT(kb_buf_put_u64(&b, 0x0102030405060708ull), KB_OK);
	KBT_CHECK_INT(kb_buf_put_cstring(&b, "hello"), KB_OK);
	KBT_CHECK_INT(kb_buf_remaining(&b), 1 + 4 + 8 + 4 + 5);
	KBT_CHECK_INT(kb_buf_get_u8(&b, &u8), KB_OK);
	KBT_CHECK_INT(u8, 0xab);
	KBT_CHECK_INT(kb_buf_get_u32(&b, &u32), KB_OK);
	KBT_CHECK(u32 == 0xdeadbeef);
	KBT_CHECK_INT(kb_buf_get_u64(&b, &u64), KB_OK);
	KBT_CHECK(u64 == 0x0102030405060708ull);
	KBT_CHECK_INT(kb_buf_get_cstring(&b, &s), KB_OK);
	KBT_CHECK_STR(s, "hello");
	KBT_CHECK_INT(kb_buf_expect_end(&b), KB_OK);
	KBT_CHECK_INT(kb_buf_get_u8(&b, &u8), KB_ERR_TRUNCATED);
	free(s);
	kb_buf_done(&b);
}

static void test_limits(void)
{
	struct kb_buf b;
	uint8_t big[100] = { 0 };

	kb_buf_init(&b, 64);
	KBT_CHECK_INT(kb_buf_put(&b, big, 64), KB_OK);
	KBT_CHECK_INT(kb_buf_put_u8(&b, 1), KB_ERR_TOO_LARGE);
	KBT_CHECK_INT(kb_buf_remaining(&b), 64);
	kb_buf_done(&b);
	kb_buf_init(&b, 10);
	/* A string whose 4-byte length would push past the limit. */
	KBT_CHECK_INT(kb_buf_put_string(&b, big, 7), KB_ERR_TOO_LARGE);
	KBT_CHECK_INT(kb_buf_remaining(&b), 0);
	kb_buf_done(&b);
}

static void test_truncated_string(void)
{
	/* Length says 5, only 3 bytes follow: nothing consumed. */
	static const uint8_t wire[] = { 0, 0, 0, 5, 'a', 'b', 'c' };
	struct kb_buf b;
	const uint8_t *p;
	size_t n;

	kb_buf_init_ro(&b, wire, sizeof(wire));
	KBT_CHECK_INT(kb_buf_get_string_direct(&b, &p, &n), KB_ERR_TRUNCATED);
	KBT_CHECK_INT(kb_buf_remaining(&b), sizeof(wire));
	/* A huge length must not wrap around. */
	static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 'a' };
	kb_buf_init_ro(&b, huge, sizeof(huge));
	KBT_CHECK_INT(kb_buf_get_string_direct(&b, &p, &n), KB_ERR_TRUNCATED);
}

static void test_embedded_nul(void)
{
	static const uint8_t wire[] = { 0, 0, 0, 3, 'a', 0, 'c' };
	struct kb_buf b;
	char *s = (char *)1;

	kb_buf_init_ro(&b, wire, sizeof(wire));
	KBT_CHECK_INT(kb_buf_get_cstring(&b, &s), KB_ERR_EMBEDDED_NUL);
	KBT_CHECK(s == NULL);
	KBT_CHECK_INT(kb_buf_remaining(&b), sizeof(wire));
}

static void test_sub_buffers(void)
{
	struct kb_buf outer, inner, child;
	uint32_t v;

	kb_buf_init(&outer, 256);
	kb_buf_init(&inner, 256);
	kb_buf_put_u32(&inner, 7);
	kb_buf_put_u32(&inner, 9);
	KBT_CHECK_INT(kb_buf_put_stringb(&outer, &inner), KB_OK);
	kb_buf_put_u8(&outer, 0x42);
	KBT_CHECK_INT(kb_buf_get_sub(&outer, &child), KB_OK);
	KBT_CHECK_INT(kb_buf_get_u32(&child, &v), KB_OK);
	KBT_CHECK_INT(v, 7);
	KBT_CHECK_INT(kb_buf_expect_end(&child), KB_ERR_TRAILING);
	KBT_CHECK_INT(kb_buf_get_u32(&child, &v), KB_OK);
	KBT_CHECK_INT(kb_buf_expect_end(&child), KB_OK);
	/* The child is bounded: it cannot read the outer buffer's next byte. */
	KBT_CHECK_INT(kb_buf_get_u8(&child, (uint8_t *)&v), KB_ERR_TRUNCATED);
	KBT_CHECK_INT(kb_buf_remaining(&outer), 1);
	kb_buf_done(&outer);
	kb_buf_done(&inner);
}

static void test_mpint(void)
{
	struct kb_buf b;
	const uint8_t *p;
	size_t n;
	static const uint8_t hi[] = { 0x00, 0x00, 0x80, 0x01 };
	static const uint8_t want[] = { 0, 0, 0, 3, 0x00, 0x80, 0x01 };

	kb_buf_init(&b, 64);
	KBT_CHECK_INT(kb_buf_put_mpint(&b, hi, sizeof(hi)), KB_OK);
	KBT_CHECK_INT(kb_buf_remaining(&b), sizeof(want));
	KBT_CHECK(memcmp(kb_buf_ptr(&b), want, sizeof(want)) == 0);
	KBT_CHECK_INT(kb_buf_get_mpint_direct(&b, &p, &n), KB_OK);
	KBT_CHECK_INT(n, 2);
	KBT_CHECK(p[0] == 0x80 && p[1] == 0x01);
	kb_buf_done(&b);

	/* Negative and non-minimal encodings are rejected. */
	static const uint8_t neg[] = { 0, 0, 0, 1, 0x80 };
	static const uint8_t pad[] = { 0, 0, 0, 2, 0x00, 0x01 };
	kb_buf_init_ro(&b, neg, sizeof(neg));
	KBT_CHECK_INT(kb_buf_get_mpint_direct(&b, &p, &n), KB_ERR_INVALID);
	kb_buf_init_ro(&b, pad, sizeof(pad));
	KBT_CHECK_INT(kb_buf_get_mpint_direct(&b, &p, &n), KB_ERR_INVALID);
}

static void test_base64(void)
{
	struct kb_buf b, d;

	kb_buf_init(&b, 64);
	kb_buf_init(&d, 64);
	KBT_CHECK_INT(kb_buf_put_base64(&b, (const uint8_t *)"foobar", 6), KB_OK);
	KBT_CHECK_INT(kb_buf_remaining(&b), 8);
	KBT_CHECK(memcmp(kb_buf_ptr(&b), "Zm9vYmFy", 8) == 0);
	KBT_CHECK_INT(kb_buf_put_from_base64(&d, "Zm9v\nYmE=", 9), KB_OK);
	KBT_CHECK_INT(kb_buf_remaining(&d), 5);
	KBT_CHECK(memcmp(kb_buf_ptr(&d), "fooba", 5) == 0);
	KBT_CHECK_INT(kb_buf_put_from_base64(&d, "Zm9v!", 5), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_buf_remaining(&d), 5);
	kb_buf_done(&b);
	kb_buf_done(&d);
}

static void test_secure(void)
{
	struct kb_buf b;

	kb_buf_init_secure(&b, 1 << 16);
	KBT_CHECK(kb_buf_is_secure(&b));
	for (int i = 0; i < 5000; i++)
		KBT_CHECK_INT(kb_buf_put_u32(&b, (uint32_t)i), KB_OK);
	KBT_CHECK_INT(kb_buf_remaining(&b), 20000);
	kb_buf_done(&b);
	KBT_CHECK(b.data == NULL);
	kb_buf_done(&b); /* twice is fine */
}

int main(void)
{
	if (kb_init() != 0)
		return 1;
	KBT_RUN(test_roundtrip);
	KBT_RUN(test_limits);
	KBT_RUN(test_truncated_string);
	KBT_RUN(test_embedded_nul);
	KBT_RUN(test_sub_buffers);
	KBT_RUN(test_mpint);
	KBT_RUN(test_base64);
	KBT_RUN(test_secure);
	return kbt_done();
}
