/* Unit tests: KRL build, write, parse, check; hand-made sections
 * (bitmap, signature, bad layouts); truncation and bit-flip loops. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "cert/cert.h"
#include "cert/krl.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "kbtest.h"

static struct kb_key *ca1, *ca2;

static struct kb_key *gen(void)
{
	struct kb_key *k = NULL;
	kb_key_generate(KB_KEY_ED25519, 0, &k);
	return k;
}

static struct kb_cert *cert(const struct kb_key *ca, uint64_t serial, const char *id)
{
	struct kb_key *k = gen();
	struct kb_cert *c = NULL;
	if (k == NULL || kb_cert_new(KB_CERT_TYPE_USER, k, &c) != 0 || kb_cert_set_key_id(c, id) != 0 ||
	    (c->serial = serial, kb_cert_sign(c, ca, NULL)) != 0) {
		kb_cert_free(c);
		c = NULL;
	}
	kb_key_free(k);
	return c;
}

static int roundtrip(const struct kb_krl *in, struct kb_krl **out)
{
	struct kb_buf b;
	int r;
	kb_buf_init(&b, KB_KRL_MAX_SIZE);
	if ((r = kb_krl_write(in, &b)) == 0)
		r = kb_krl_parse(b.data, b.len, out);
	kb_buf_done(&b);
	return r;
}

static void test_revocations(void)
{
	struct kb_krl *w = NULL, *k = NULL;
	struct kb_key *plain = gen(), *hashed = gen(), *fp_key = gen(), *sha1_key = gen(), *innocent = gen();
	char fp[KB_KEY_FP_MAX];

	KBT_CHECK_INT(kb_krl_new(&w), KB_OK);
	kb_krl_set_version(w, 42);
	kb_krl_set_generated_date(w, 1780000000);
	KBT_CHECK_INT(kb_krl_set_comment(w, "test krl"), KB_OK);
	KBT_CHECK_INT(kb_krl_revoke_serial_range(w, ca1, 5, 5), KB_OK);
	KBT_CHECK_INT(kb_krl_revoke_serial_range(w, ca1, 100, 200), KB_OK);
	KBT_CHECK_INT(kb_krl_revoke_serial_range(w, ca1, 150, 250), KB_OK); /* merges */
	KBT_CHECK_INT(kb_krl_revoke_serial_range(w, ca1, 0, 3), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_krl_revoke_serial_range(w, ca1, 9, 8), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_krl_revoke_key_id(w, ca1, "mallory"), KB_OK);
	KBT_CHECK_INT(kb_krl_revoke_key_id(w, NULL, "eve"), KB_OK);
	KBT_CHECK_INT(kb_krl_revoke_key(w, plain), KB_OK);
	KBT_CHECK_INT(kb_krl_revoke_key_sha256(w, hashed), KB_OK);
	KBT_CHECK_INT(kb_krl_revoke_key_sha1(w, sha1_key), KB_OK);
	KBT_CHECK_INT(kb_key_fingerprint(fp_key, fp, sizeof(fp)), KB_OK);
	KBT_CHECK_INT(kb_krl_revoke_fingerprint(w, fp), KB_OK);
	KBT_CHECK_INT(kb_krl_revoke_fingerprint(w, "SHA256:short"), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_krl_revoke_fingerprint(w, "MD5:aa:bb"), KB_ERR_INVALID);

	KBT_CHECK_INT(roundtrip(w, &k), KB_OK);
	KBT_CHECK(k != NULL);
	if (k == NULL)
		goto out;
	KBT_CHECK_INT(kb_krl_version(k), 42);
	KBT_CHECK_INT(kb_krl_generated_date(k), 1780000000);
	KBT_CHECK_STR(kb_krl_comment(k), "test krl");

	KBT_CHECK_INT(kb_krl_check_key(k, plain), KB_ERR_REVOKED);
	KBT_CHECK_INT(kb_krl_check_key(k, hashed), KB_ERR_REVOKED);
	KBT_CHECK_INT(kb_krl_check_key(k, fp_key), KB_ERR_REVOKED);
	KBT_CHECK_INT(kb_krl_check_key(k, sha1_key), KB_ERR_REVOKED);
	KBT_CHECK_INT(kb_krl_check_key(k, innocent), KB_OK);
	KBT_CHECK_INT(kb_krl_check_key(k, ca2), KB_OK);

	struct {
		const struct kb_key *ca;
		uint64_t serial;
		const char *id;
		int want;
	} cases[] = {
		{ ca1, 5, "x", KB_ERR_REVOKED },        { ca1, 4, "x", KB_OK },
		{ ca1, 6, "x", KB_OK },                 { ca1, 100, "x", KB_ERR_REVOKED },
		{ ca1, 250, "x", KB_ERR_REVOKED },      { ca1, 251, "x", KB_OK },
		{ ca2, 5, "x", KB_OK },                 { ca2, 150, "x", KB_OK },
		{ ca1, 0, "x", KB_OK },                 { ca1, 1, "mallory", KB_ERR_REVOKED },
		{ ca2, 1, "mallory", KB_OK },           { ca2, 1, "eve", KB_ERR_REVOKED },
		{ ca1, 1, "eve", KB_ERR_REVOKED },      { ca1, 1, "eve2", KB_OK },
	};
	for (size_t i = 0; i < KB_ARRAY_SIZE(cases); i++) {
		struct kb_cert *c = cert(cases[i].ca, cases[i].serial, cases[i].id);
		KBT_CHECK(c != NULL);
		if (c == NULL)
			continue;
		int r = kb_krl_check_cert(k, c);
		if (r != cases[i].want)
			printf("#   case %zu: serial %llu id %s: got %d\n", i, (unsigned long long)cases[i].serial,
			       cases[i].id, r);
		KBT_CHECK_INT(r, cases[i].want);
		kb_cert_free(c);
	}
	/* A certificate for a revoked key, and one signed by a revoked CA. */
	struct kb_cert *c = NULL;
	KBT_CHECK_INT(kb_cert_new(KB_CERT_TYPE_USER, plain, &c), KB_OK);
	KBT_CHECK_INT(kb_cert_sign(c, ca2, NULL), KB_OK);
	KBT_CHECK_INT(kb_krl_check_cert(k, c), KB_ERR_REVOKED);
	kb_cert_free(c);
	c = NULL;
	KBT_CHECK_INT(kb_cert_new(KB_CERT_TYPE_USER, innocent, &c), KB_OK);
	KBT_CHECK_INT(kb_cert_sign(c, hashed, NULL), KB_OK);
	KBT_CHECK_INT(kb_krl_check_cert(k, c), KB_ERR_REVOKED);
	kb_cert_free(c);

	/* Writing is canonical: a second round trip gives the same bytes. */
	struct kb_buf b1, b2;
	kb_buf_init(&b1, KB_KRL_MAX_SIZE);
	kb_buf_init(&b2, KB_KRL_MAX_SIZE);
	struct kb_krl *k2 = NULL;
	KBT_CHECK_INT(kb_krl_write(k, &b1), KB_OK);
	KBT_CHECK_INT(roundtrip(k, &k2), KB_OK);
	if (k2)
		KBT_CHECK_INT(kb_krl_write(k2, &b2), KB_OK);
	KBT_CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
	kb_krl_free(k2);

	/* Listing and JSON. */
	char *text = NULL, *js = NULL;
	KBT_CHECK_INT(kb_krl_format_text(k, &text), KB_OK);
	KBT_CHECK(text && strstr(text, "serial: 100-250\n") && strstr(text, "serial: 5\n") &&
		  strstr(text, "id: mallory\n") && strstr(text, "id: eve\n") && strstr(text, "# CA key: any CA\n"));
	KBT_CHECK_INT(kb_krl_format_json(k, &js), KB_OK);
	json_t *j = js ? json_loads(js, 0, NULL) : NULL;
	KBT_CHECK(j && json_integer_value(json_object_get(j, "krl_version")) == 42);
	KBT_CHECK(j && json_array_size(json_object_get(j, "certificates")) == 2);
	KBT_CHECK(j && json_array_size(json_object_get(j, "sha256")) == 2);
	json_decref(j);
	free(text);
	free(js);

	/* Truncations parse only at section boundaries (the format has no
	 * length or checksum over the sections, as in OpenSSH): after the
	 * header and after each of the first four of our five sections (two
	 * CA sections, explicit keys, SHA1, SHA256).  Bit flips never crash. */
	size_t accepted = 0;
	for (size_t n = 0; n < b1.len; n++) {
		struct kb_krl *p = NULL;
		uint8_t *part = malloc(n ? n : 1);
		memcpy(part, b1.data, n);
		if (kb_krl_parse(part, n, &p) == 0)
			accepted++;
		kb_krl_free(p);
		free(part);
	}
	KBT_CHECK_INT(accepted, 5);
	uint8_t *copy = malloc(b1.len);
	for (size_t bit = 0; bit < b1.len * 8; bit++) {
		struct kb_krl *p = NULL;
		memcpy(copy, b1.data, b1.len);
		copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (kb_krl_parse(copy, b1.len, &p) == 0)
			kb_krl_check_key(p, innocent);
		kb_krl_free(p);
	}
	free(copy);
	kb_buf_done(&b1);
	kb_buf_done(&b2);
out:
	kb_krl_free(w);
	kb_krl_free(k);
	kb_key_free(plain);
	kb_key_free(hashed);
	kb_key_free(fp_key);
	kb_key_free(sha1_key);
	kb_key_free(innocent);
}

/* Header + sections built by hand. */
static void header(struct kb_buf *b)
{
	kb_buf_put_u64(b, 0x5353484b524c0a00ULL);
	kb_buf_put_u32(b, 1);
	kb_buf_put_u64(b, 1);
	kb_buf_put_u64(b, 0);
	kb_buf_put_u64(b, 0);
	kb_buf_put_string(b, NULL, 0);
	kb_buf_put_cstring(b, "");
}

static void cert_section(struct kb_buf *b, uint8_t subtype, const struct kb_buf *sub)
{
	struct kb_buf sect, cab;
	kb_buf_init(&sect, 65536);
	kb_buf_init(&cab, 65536);
	kb_key_plain_blob(ca1, &cab);
	kb_buf_put_stringb(&sect, &cab);
	kb_buf_put_string(&sect, NULL, 0);
	kb_buf_put_u8(&sect, subtype);
	kb_buf_put_stringb(&sect, sub);
	kb_buf_put_u8(b, 1);
	kb_buf_put_stringb(b, &sect);
	kb_buf_done(&sect);
	kb_buf_done(&cab);
}

static int check_serial(const struct kb_krl *k, uint64_t serial)
{
	struct kb_cert *c = cert(ca1, serial, "id");
	int r = c ? kb_krl_check_cert(k, c) : KB_ERR_INTERNAL;
	kb_cert_free(c);
	return r;
}

static void test_bitmap_and_signature_sections(void)
{
	struct kb_buf b, sub;
	struct kb_krl *k = NULL;

	/* Bitmap at offset 10 with bits 0,1,2,6 and 9: serials 10-12, 16, 19
	 * (the layout ssh-keygen -k writes for nearby serials). */
	kb_buf_init(&b, 65536);
	kb_buf_init(&sub, 65536);
	header(&b);
	kb_buf_put_u64(&sub, 10);
	const uint8_t bits[] = { 0x02, 0x47 };
	kb_buf_put_mpint(&sub, bits, sizeof(bits));
	cert_section(&b, 0x22, &sub);
	/* A signature section at the end is skipped. */
	kb_buf_put_u8(&b, 4);
	kb_buf_put_string(&b, "\0\0\0\0\0\0\0\0", 8);
	KBT_CHECK_INT(kb_krl_parse(b.data, b.len, &k), KB_OK);
	if (k) {
		KBT_CHECK_INT(check_serial(k, 9), KB_OK);
		KBT_CHECK_INT(check_serial(k, 10), KB_ERR_REVOKED);
		KBT_CHECK_INT(check_serial(k, 12), KB_ERR_REVOKED);
		KBT_CHECK_INT(check_serial(k, 13), KB_OK);
		KBT_CHECK_INT(check_serial(k, 16), KB_ERR_REVOKED);
		KBT_CHECK_INT(check_serial(k, 17), KB_OK);
		KBT_CHECK_INT(check_serial(k, 19), KB_ERR_REVOKED);
		KBT_CHECK_INT(check_serial(k, 20), KB_OK);
	}
	kb_krl_free(k);
	k = NULL;
	/* Any section after a signature is refused. */
	kb_buf_put_u8(&b, 2);
	kb_buf_put_string(&b, NULL, 0);
	KBT_CHECK(kb_krl_parse(b.data, b.len, &k) != KB_OK);
	kb_krl_free(k);
	k = NULL;

	/* Serial 0 in a list, and an inverted range, are refused. */
	kb_buf_reset(&b);
	kb_buf_reset(&sub);
	header(&b);
	kb_buf_put_u64(&sub, 0);
	cert_section(&b, 0x20, &sub);
	KBT_CHECK(kb_krl_parse(b.data, b.len, &k) != KB_OK);
	kb_buf_reset(&b);
	kb_buf_reset(&sub);
	header(&b);
	kb_buf_put_u64(&sub, 9);
	kb_buf_put_u64(&sub, 8);
	cert_section(&b, 0x21, &sub);
	KBT_CHECK(kb_krl_parse(b.data, b.len, &k) != KB_OK);
	/* Unknown section types and subsection types are refused. */
	kb_buf_reset(&b);
	kb_buf_reset(&sub);
	header(&b);
	cert_section(&b, 0x30, &sub);
	KBT_CHECK_INT(kb_krl_parse(b.data, b.len, &k), KB_ERR_UNSUPPORTED);
	kb_buf_reset(&b);
	header(&b);
	kb_buf_put_u8(&b, 9);
	kb_buf_put_string(&b, NULL, 0);
	KBT_CHECK_INT(kb_krl_parse(b.data, b.len, &k), KB_ERR_UNSUPPORTED);
	/* Bad magic, bad format version, SHA256 entry of the wrong size. */
	kb_buf_reset(&b);
	header(&b);
	b.data[0] ^= 1;
	KBT_CHECK(kb_krl_parse(b.data, b.len, &k) != KB_OK);
	kb_buf_reset(&b);
	header(&b);
	b.data[11] = 2;
	KBT_CHECK_INT(kb_krl_parse(b.data, b.len, &k), KB_ERR_UNSUPPORTED);
	kb_buf_reset(&b);
	kb_buf_reset(&sub);
	header(&b);
	kb_buf_put_string(&sub, "0123456789", 10);
	kb_buf_put_u8(&b, 5);
	kb_buf_put_stringb(&b, &sub);
	KBT_CHECK(kb_krl_parse(b.data, b.len, &k) != KB_OK);
	/* An empty KRL is fine and revokes nothing. */
	kb_buf_reset(&b);
	header(&b);
	KBT_CHECK_INT(kb_krl_parse(b.data, b.len, &k), KB_OK);
	if (k)
		KBT_CHECK_INT(check_serial(k, 10), KB_OK);
	kb_krl_free(k);
	kb_buf_done(&b);
	kb_buf_done(&sub);
}

static void test_limits(void)
{
	struct kb_krl *k = NULL;
	KBT_CHECK_INT(kb_krl_new(&k), KB_OK);
	/* Entries are capped (before allocating). */
	int r = KB_OK;
	uint64_t i;
	for (i = 1; i <= KB_KRL_MAX_ENTRIES + 1 && r == KB_OK; i++)
		r = kb_krl_revoke_serial_range(k, NULL, 2 * i, 2 * i); /* never mergeable */
	KBT_CHECK_INT(r, KB_ERR_LIMIT);
	KBT_CHECK_INT(i - 1, KB_KRL_MAX_ENTRIES + 1);
	kb_krl_free(k);
	uint8_t big[16];
	memset(big, 0, sizeof(big));
	KBT_CHECK_INT(kb_krl_parse(big, (size_t)KB_KRL_MAX_SIZE + 1, &k), KB_ERR_TOO_LARGE);
}

int main(void)
{
	if (kb_init() != 0)
		return 1;
	ca1 = gen();
	ca2 = gen();
	if (ca1 == NULL || ca2 == NULL) {
		printf("Bail out! cannot generate Ed25519 keys\n");
		return 1;
	}
	KBT_RUN(test_revocations);
	KBT_RUN(test_bitmap_and_signature_sections);
	KBT_RUN(test_limits);
	kb_key_free(ca1);
	kb_key_free(ca2);
	return kbt_done();
}
