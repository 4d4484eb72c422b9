/* The local store's format parsers: round trips, every truncation and
 * every bit flip of a metadata document and of store.info; a flip either
 * fails or yields a document that re-encodes to exactly the flipped bytes
 * (the format is canonical), and sealed files fail on any change. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/err.h"
#include "core/mem.h"
#include "kbtest.h"
#include "store/store.h"
#include "store/store_local.h"

static void sample(struct kb_local_meta *m, struct kb_local_version v[3])
{
	memset(m, 0, sizeof(*m));
	memset(v, 0, 3 * sizeof(*v));
	m->name = "keybroker/deploy/alice";
	m->description = "ssh credential";
	memset(m->secret_id, 7, sizeof(m->secret_id));
	m->created = 1764400000;
	m->updated = 1764400100;
	m->next_version = 6;
	v[0] = (struct kb_local_version){ .num = 1, .stages = KB_STAGE_PREVIOUS, .created = 1764400001 };
	v[1] = (struct kb_local_version){ .num = 3, .stages = KB_STAGE_CURRENT, .created = 1764400003 };
	v[2] = (struct kb_local_version){ .num = 5, .stages = KB_STAGE_PENDING, .created = 1764400005 };
	memcpy(v[2].token, "retry-1", 8);
	for (int i = 0; i < 3; i++)
		memset(v[i].file_hash, 0x10 + i, sizeof(v[i].file_hash));
	m->v = v;
	m->n = 3;
}

static int reencode_equal(const struct kb_local_meta *m, const uint8_t *p, size_t n)
{
	struct kb_buf b;
	kb_buf_init(&b, KB_LOCAL_META_MAX);
	int ok = kb_local_meta_encode(m, &b) == KB_OK && kb_buf_remaining(&b) == n && memcmp(kb_buf_ptr(&b), p, n) == 0;
	kb_buf_done(&b);
	return ok;
}

static void test_meta(void)
{
	struct kb_local_meta m, *got = NULL;
	struct kb_local_version v[3];
	struct kb_buf b;

	sample(&m, v);
	kb_buf_init(&b, KB_LOCAL_META_MAX);
	KBT_CHECK_INT(kb_local_meta_encode(&m, &b), KB_OK);
	const uint8_t *p = kb_buf_ptr(&b);
	size_t n = kb_buf_remaining(&b);
	KBT_CHECK_INT(kb_local_meta_parse(p, n, &got), KB_OK);
	if (got) {
		KBT_CHECK_STR(got->name, m.name);
		KBT_CHECK_STR(got->description, m.description);
		KBT_CHECK_INT(got->n, 3);
		KBT_CHECK_INT(got->v[2].num, 5);
		KBT_CHECK_STR(got->v[2].token, "retry-1");
		KBT_CHECK_INT(got->next_version, 6);
		KBT_CHECK(reencode_equal(got, p, n));
	}
	kb_local_meta_free(got);
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *t = malloc(cut ? cut : 1);
		memcpy(t, p, cut);
		got = (struct kb_local_meta *)1;
		KBT_CHECK(kb_local_meta_parse(t, cut, &got) != KB_OK);
		KBT_CHECK(got == NULL);
		free(t);
	}
	uint8_t *t = malloc(n);
	unsigned accepted = 0;
	for (size_t bit = 0; bit < n * 8; bit++) {
		memcpy(t, p, n);
		t[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (kb_local_meta_parse(t, n, &got) == KB_OK) {
			accepted++;
			KBT_CHECK(reencode_equal(got, t, n));
			kb_local_meta_free(got);
		}
	}
	printf("# %zu bit flips, %u still well-formed (times, ids, hashes)\n", n * 8, accepted);
	free(t);
	/* Rules: duplicate stage, unsorted, number >= next, unknown stage bit. */
	v[1].stages = KB_STAGE_PENDING;
	kb_buf_reset(&b);
	kb_local_meta_encode(&m, &b);
	KBT_CHECK_INT(kb_local_meta_parse(kb_buf_ptr(&b), kb_buf_remaining(&b), &got), KB_ERR_INVALID);
	sample(&m, v);
	v[1].num = 1;
	kb_buf_reset(&b);
	kb_local_meta_encode(&m, &b);
	KBT_CHECK_INT(kb_local_meta_parse(kb_buf_ptr(&b), kb_buf_remaining(&b), &got), KB_ERR_INVALID);
	sample(&m, v);
	m.next_version = 5;
	kb_buf_reset(&b);
	kb_local_meta_encode(&m, &b);
	KBT_CHECK_INT(kb_local_meta_parse(kb_buf_ptr(&b), kb_buf_remaining(&b), &got), KB_ERR_INVALID);
	sample(&m, v);
	v[0].stages = 8;
	kb_buf_reset(&b);
	kb_local_meta_encode(&m, &b);
	KBT_CHECK_INT(kb_local_meta_parse(kb_buf_ptr(&b), kb_buf_remaining(&b), &got), KB_ERR_INVALID);
	sample(&m, v);
	m.name = "a/../b";
	kb_buf_reset(&b);
	kb_local_meta_encode(&m, &b);
	KBT_CHECK_INT(kb_local_meta_parse(kb_buf_ptr(&b), kb_buf_remaining(&b), &got), KB_ERR_INVALID);
	/* A huge count is refused before allocating. */
	sample(&m, v);
	m.n = 0;
	kb_buf_reset(&b);
	kb_local_meta_encode(&m, &b);
	size_t len = kb_buf_remaining(&b);
	uint8_t *h = malloc(len);
	memcpy(h, kb_buf_ptr(&b), len);
	memset(h + len - 4, 0xff, 4);
	KBT_CHECK(kb_local_meta_parse(h, len, &got) != KB_OK);
	h[len - 4] = h[len - 3] = 0;
	h[len - 2] = 0x03;
	h[len - 1] = 0xe8; /* 1000: allowed count, but no room for them */
	KBT_CHECK_INT(kb_local_meta_parse(h, len, &got), KB_ERR_TRUNCATED);
	free(h);
	kb_buf_done(&b);
}

static void test_info(void)
{
	struct kb_local_info in = { .mode = KB_LOCAL_MODE_PASSPHRASE, .opslimit = 2, .memlimit = 64u << 20 }, out;
	uint8_t file[KB_LOCAL_INFO_LEN];
	memset(in.salt, 3, sizeof(in.salt));
	kb_local_info_encode_body(&in, file);
	memset(file + KB_LOCAL_INFO_LEN - 32, 9, 32);
	KBT_CHECK_INT(kb_local_info_parse(file, sizeof(file), &out), KB_OK);
	KBT_CHECK_INT(out.memlimit, 64u << 20);
	for (size_t cut = 0; cut < sizeof(file); cut++)
		KBT_CHECK(kb_local_info_parse(file, cut, &out) != KB_OK);
	for (size_t bit = 0; bit < (KB_LOCAL_INFO_LEN - 32 - 16) * 8; bit++) {
		uint8_t t[KB_LOCAL_INFO_LEN], body[KB_LOCAL_INFO_LEN - 32];
		memcpy(t, file, sizeof(t));
		t[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (kb_local_info_parse(t, sizeof(t), &out) == KB_OK) {
			kb_local_info_encode_body(&out, body);
			KBT_CHECK(memcmp(body, t, sizeof(body)) == 0);
			KBT_CHECK(out.opslimit <= KB_LOCAL_OPSLIMIT_MAX && out.memlimit <= KB_LOCAL_MEMLIMIT_MAX);
		}
	}
}

static void test_seal(void)
{
	uint8_t key[32], key2[32];
	struct kb_buf f, out;
	randombytes_buf(key, sizeof(key));
	randombytes_buf(key2, sizeof(key2));
	kb_buf_init(&f, 4096);
	kb_buf_init_secure(&out, 4096);
	KBT_CHECK_INT(kb_local_seal(key, KB_LOCAL_KIND_VALUE, (const uint8_t *)"bind", 4, (const uint8_t *)"secret", 6, &f), KB_OK);
	const uint8_t *p = kb_buf_ptr(&f);
	size_t n = kb_buf_remaining(&f);
	KBT_CHECK_INT(n, 6 + KB_LOCAL_OVERHEAD);
	KBT_CHECK(memmem(p, n, "secret", 6) == NULL);
	KBT_CHECK_INT(kb_local_unseal(key, KB_LOCAL_KIND_VALUE, (const uint8_t *)"bind", 4, p, n, &out), KB_OK);
	KBT_CHECK(kb_buf_remaining(&out) == 6 && memcmp(kb_buf_ptr(&out), "secret", 6) == 0);
	kb_buf_reset(&out);
	KBT_CHECK_INT(kb_local_unseal(key2, KB_LOCAL_KIND_VALUE, (const uint8_t *)"bind", 4, p, n, &out), KB_ERR_SIGNATURE);
	KBT_CHECK_INT(kb_local_unseal(key, KB_LOCAL_KIND_META, (const uint8_t *)"bind", 4, p, n, &out), KB_ERR_SIGNATURE);
	KBT_CHECK_INT(kb_local_unseal(key, KB_LOCAL_KIND_VALUE, (const uint8_t *)"bine", 4, p, n, &out), KB_ERR_SIGNATURE);
	uint8_t *t = malloc(n);
	for (size_t bit = 0; bit < n * 8; bit++) {
		memcpy(t, p, n);
		t[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		KBT_CHECK_INT(kb_local_unseal(key, KB_LOCAL_KIND_VALUE, (const uint8_t *)"bind", 4, t, n, &out),
			      KB_ERR_SIGNATURE);
	}
	for (size_t cut = 0; cut < n; cut++)
		KBT_CHECK_INT(kb_local_unseal(key, KB_LOCAL_KIND_VALUE, (const uint8_t *)"bind", 4, p, cut, &out),
			      KB_ERR_SIGNATURE);
	KBT_CHECK_INT(kb_buf_remaining(&out), 0);
	free(t);
	kb_buf_done(&f);
	kb_buf_done(&out);
}

int main(void)
{
	if (kb_init() != 0)
		return 1;
	KBT_RUN(test_meta);
	KBT_RUN(test_info);
	KBT_RUN(test_seal);
	return kbt_done();
}
