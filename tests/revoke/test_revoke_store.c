/* The sharded revocation record on the local backend: thousands of entries
 * over several shards, batches, dedup, concurrent writers (processes) that
 * lose nothing, migration from a v1 document, prune and shard garbage
 * collection, and the KRL built from it all. */
#include <sys/wait.h>

#include <sodium.h>
#include <time.h>
#include <unistd.h>

#include "../store/store_test_util.h"
#include "cert/cert.h"
#include "cert/krl.h"
#include "core/mem.h"
#include "revoke/revoke.h"
#include "revoke/revoke_int.h"
#include "ssh/key.h"

static struct kb_key *ca, *ca2, *user, *other;
static struct kb_cert *cert; /* signed by ca; serial changed for checks */

static void setup(void)
{
	if (kb_key_generate(KB_KEY_ED25519, 0, &ca) || kb_key_generate(KB_KEY_ED25519, 0, &ca2) ||
	    kb_key_generate(KB_KEY_ED25519, 0, &user) || kb_key_generate(KB_KEY_ED25519, 0, &other) || kb_cert_new(KB_CERT_TYPE_USER, user, &cert) ||
	    kb_cert_set_key_id(cert, "t") || kb_cert_set_validity(cert, 0, UINT64_MAX) || kb_cert_sign(cert, ca, NULL))
		abort();
}

static int add_range(struct kb_store *s, const struct kb_key *k, uint64_t first, size_t n, int64_t vb, size_t *ret_added)
{
	struct kb_revocation *v = calloc(n, sizeof(*v));
	bool *added = calloc(n, sizeof(*added));
	for (size_t i = 0; i < n; i++)
		v[i] = (struct kb_revocation){ .ca = k, .serial = first + i * 7919, .valid_before = vb, .requester = "test",
					       .reason = "unit test" };
	int r = kb_revocations_add_many(s, v, n, added);
	size_t a = 0;
	for (size_t i = 0; i < n; i++)
		a += added[i];
	if (ret_added)
		*ret_added = a;
	free(v);
	free(added);
	return r;
}

static json_t *head(struct kbt_store *t)
{
	struct kb_buf val;
	char *ver = NULL;
	json_t *doc = NULL;
	kb_buf_init(&val, KB_STORE_VALUE_MAX);
	if (kb_store_get(t->s, KB_REVOCATIONS_SECRET, NULL, &val, &ver) == KB_OK)
		doc = json_loadb((const char *)val.data, val.len, 0, NULL);
	kb_buf_done(&val);
	free(ver);
	return doc;
}

static size_t nshards(struct kbt_store *t)
{
	json_t *h = head(t);
	size_t n = json_array_size(json_object_get(h, "shards"));
	json_decref(h);
	return n;
}

/* Is serial revoked under ca in the KRL built from the record? */
static struct kb_krl *build(struct kbt_store *t, size_t *ret_n)
{
	json_t *doc = NULL;
	char *ver = NULL;
	struct kb_krl *krl = NULL;
	KBT_CHECK_INT(kb_revocations_load(t->s, &doc, &ver), KB_OK);
	KBT_CHECK_INT(kb_krl_new(&krl), KB_OK);
	KBT_CHECK_INT(kb_revocations_build_krl(doc, krl, ret_n), KB_OK);
	json_decref(doc);
	free(ver);
	return krl;
}

static bool revoked(const struct kb_krl *krl, uint64_t serial)
{
	cert->serial = serial;
	return kb_krl_check_cert(krl, cert) == KB_ERR_REVOKED;
}

static void test_scale_and_dedup(void)
{
	struct kbt_store t;
	size_t added = 0, n = 0;
	kbt_store_open(&t);
	for (int b = 0; b < 10; b++) {
		KBT_CHECK_INT(add_range(t.s, ca, 1000 + (uint64_t)b * 500 * 7919, 500, 0, &added), KB_OK);
		KBT_CHECK_INT((int)added, 500);
	}
	size_t sh = nshards(&t);
	printf("# 5000 entries in %zu shards\n", sh);
	KBT_CHECK(sh >= 4);
	/* the same again: nothing added, nothing written */
	KBT_CHECK_INT(add_range(t.s, ca, 1000 + 3 * 500 * 7919, 500, 0, &added), KB_OK);
	KBT_CHECK_INT((int)added, 0);
	KBT_CHECK_INT((int)nshards(&t), (int)sh);
	/* the same serials under another CA are new */
	KBT_CHECK_INT(add_range(t.s, ca2, 1000, 10, 0, &added), KB_OK);
	KBT_CHECK_INT((int)added, 10);
	struct kb_krl *krl = build(&t, &n);
	KBT_CHECK_INT((int)n, 5010);
	bool all = true;
	for (uint64_t i = 0; i < 5000; i++)
		all = all && revoked(krl, 1000 + i * 7919);
	KBT_CHECK(all);
	KBT_CHECK(!revoked(krl, 1001));
	KBT_CHECK(!revoked(krl, 1000 + 5000 * 7919));
	kb_krl_free(krl);
	kbt_store_close(&t);
}

#define WRITERS 4
#define PER_WRITER 400
#define BATCH 20

static void test_concurrent_writers(void)
{
	struct kbt_store t;
	pid_t pids[WRITERS];
	kbt_store_open(&t);
	for (int w = 0; w < WRITERS; w++) {
		if ((pids[w] = fork()) == 0) {
			struct kb_store *s = NULL;
			int bad = kb_store_open(t.cfg, &s) != KB_OK;
			for (int b = 0; b < PER_WRITER / BATCH && !bad; b++) {
				size_t added = 0;
				/* writer w: serials w*1e9 + k*7919 */
				bad = add_range(s, ca, (uint64_t)(w + 1) * 1000000000u + (uint64_t)b * BATCH * 7919, BATCH, 0,
						&added) != KB_OK ||
				      added != BATCH;
				if (bad)
					fprintf(stderr, "writer %d: %s\n", w, kb_err_detail());
			}
			kb_store_close(s);
			_exit(bad);
		}
	}
	int ok = 0;
	for (int w = 0; w < WRITERS; w++) {
		int st = 0;
		waitpid(pids[w], &st, 0);
		ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	KBT_CHECK_INT(ok, WRITERS);
	size_t n = 0;
	struct kb_krl *krl = build(&t, &n);
	KBT_CHECK_INT((int)n, WRITERS * PER_WRITER);
	bool all = true;
	for (int w = 0; w < WRITERS; w++)
		for (uint64_t k = 0; k < PER_WRITER; k++)
			all = all && revoked(krl, (uint64_t)(w + 1) * 1000000000u + k * 7919);
	KBT_CHECK(all);
	printf("# %d writers x %d: %zu entries, %zu shards\n", WRITERS, PER_WRITER, n, nshards(&t));
	KBT_CHECK(nshards(&t) >= 2);
	kb_krl_free(krl);
	kbt_store_close(&t);
}

/* A v1 document (the old single-secret format) written as-is. */
static char *v1_doc(size_t n)
{
	char *line = NULL;
	KBT_CHECK_INT(kb_key_format_public_line(ca, NULL, &line), KB_OK);
	json_t *doc = json_pack("{s:s,s:I,s:[]}", "kind", KB_REVOCATIONS_KIND, "krl_version", (json_int_t)7, "entries");
	for (size_t i = 0; i < n; i++) {
		char sn[32];
		snprintf(sn, sizeof(sn), "%zu", 500000 + i);
		json_array_append_new(json_object_get(doc, "entries"),
				      json_pack("{s:s,s:s,s:s,s:s,s:s}", "ca", line, "serial", sn, "time",
						"2026-01-01T00:00:00Z", "requester", "olduser", "reason", "v1 entry"));
	}
	char *text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	free(line);
	return text;
}

static void test_migration(void)
{
	size_t sizes[] = { 3, 320 }; /* small, and nearly the whole 64 KiB */
	for (size_t k = 0; k < 2; k++) {
		struct kbt_store t;
		size_t n = 0, added = 0;
		kbt_store_open(&t);
		char *text = v1_doc(sizes[k]);
		struct kb_store_put_opts o = { 0 };
		printf("# v1 document with %zu entries: %zu bytes\n", sizes[k], strlen(text));
		KBT_CHECK(strlen(text) <= KB_STORE_VALUE_MAX);
		KBT_CHECK_INT(kb_store_put(t.s, KB_REVOCATIONS_SECRET, (const uint8_t *)text, strlen(text), &o, NULL), KB_OK);
		kb_json_free_string(text);
		/* read as is */
		struct kb_krl *krl = build(&t, &n);
		KBT_CHECK_INT((int)n, (int)sizes[k]);
		KBT_CHECK(revoked(krl, 500000) && revoked(krl, 500000 + sizes[k] - 1));
		kb_krl_free(krl);
		/* a v1 entry again: already there, nothing written (still v1) */
		struct kb_revocation again = { .ca = ca, .serial = 500001 };
		bool a = true;
		KBT_CHECK_INT(kb_revocations_add(t.s, &again, &a), KB_OK);
		KBT_CHECK(!a);
		json_t *h = head(&t);
		KBT_CHECK_STR(json_string_value(json_object_get(h, "kind")), KB_REVOCATIONS_KIND);
		json_decref(h);
		/* the first write migrates */
		KBT_CHECK_INT(add_range(t.s, ca, 9000000, 100, 0, &added), KB_OK);
		KBT_CHECK_INT((int)added, 100);
		h = head(&t);
		KBT_CHECK_STR(json_string_value(json_object_get(h, "kind")), KB_REVOCATIONS_KIND_V2);
		KBT_CHECK(json_integer_value(json_object_get(h, "krl_version")) == 7);
		json_decref(h);
		krl = build(&t, &n);
		KBT_CHECK_INT((int)n, (int)sizes[k] + 100);
		bool all = true;
		for (size_t i = 0; i < sizes[k]; i++)
			all = all && revoked(krl, 500000 + i);
		KBT_CHECK(all);
		KBT_CHECK(revoked(krl, 9000000 + 99 * 7919));
		kb_krl_free(krl);
		uint64_t v = 0;
		KBT_CHECK_INT(kb_revocations_next_krl_version(t.s, 0, &v), KB_OK);
		KBT_CHECK(v == 8);
		kbt_store_close(&t);
	}
}

static void test_prune(void)
{
	struct kbt_store t;
	struct kb_revocations_prune_result res;
	int64_t now = (int64_t)time(NULL);
	size_t n = 0;
	kbt_store_open(&t);
	/* expired, valid, unknown expiry, across several shards */
	KBT_CHECK_INT(add_range(t.s, ca, 1, 900, now - 3600, NULL), KB_OK);
	KBT_CHECK_INT(add_range(t.s, ca, 2, 900, now + 3600, NULL), KB_OK);
	KBT_CHECK_INT(add_range(t.s, ca, 3, 900, 0, NULL), KB_OK);
	KBT_CHECK_INT(add_range(t.s, ca, 4, 10, now - 60, NULL), KB_OK); /* in the tail */
	/* a key revocation and a certificate with both key and serial, expired */
	struct kb_revocation kr[2] = { { .key = other }, { .ca = ca, .serial = 5, .key = ca2, .valid_before = now - 60 } };
	KBT_CHECK_INT(kb_revocations_add_many(t.s, kr, 2, NULL), KB_OK);
	size_t before = nshards(&t);
	printf("# 2712 entries in %zu shards\n", before);
	KBT_CHECK(before >= 3);
	json_t *h0 = head(&t);

	KBT_CHECK_INT(kb_revocations_prune(t.s, now, true, &res), KB_OK);
	KBT_CHECK_INT((int)json_array_size(res.dropped), 910);
	KBT_CHECK_INT((int)res.kept, 1802);
	kb_revocations_prune_result_done(&res);
	json_t *h1 = head(&t);
	KBT_CHECK(json_equal(h0, h1)); /* dry run wrote nothing */
	json_decref(h1);

	KBT_CHECK_INT(kb_revocations_prune(t.s, now, false, &res), KB_OK);
	KBT_CHECK_INT((int)json_array_size(res.dropped), 910);
	KBT_CHECK_INT((int)res.kept, 1802);
	KBT_CHECK_INT((int)res.gc_removed, 0); /* replaced shards are young */
	KBT_CHECK(res.gc_young > 0);
	kb_revocations_prune_result_done(&res);
	struct kb_krl *krl = build(&t, &n);
	KBT_CHECK_INT((int)n, 1802);
	KBT_CHECK(!revoked(krl, 1));
	KBT_CHECK(!revoked(krl, 1 + 899 * 7919));
	KBT_CHECK(!revoked(krl, 4));
	KBT_CHECK(revoked(krl, 2));
	KBT_CHECK(revoked(krl, 2 + 899 * 7919));
	KBT_CHECK(revoked(krl, 3) && revoked(krl, 5));
	KBT_CHECK_INT(kb_krl_check_key(krl, other), KB_ERR_REVOKED);
	kb_krl_free(krl);
	/* again: nothing to do */
	KBT_CHECK_INT(kb_revocations_prune(t.s, now, false, &res), KB_OK);
	KBT_CHECK_INT((int)json_array_size(res.dropped), 0);
	kb_revocations_prune_result_done(&res);
	/* two hours later the unreferenced shards go (and the 1 h certificates) */
	KBT_CHECK_INT(kb_revocations_prune(t.s, now + 7200, false, &res), KB_OK);
	KBT_CHECK_INT((int)json_array_size(res.dropped), 900);
	KBT_CHECK(res.gc_removed > 0);
	kb_revocations_prune_result_done(&res);
	char **names = NULL;
	size_t nn = 0;
	KBT_CHECK_INT(kb_store_list(t.s, KB_REVOCATION_SHARD_PREFIX, &names, &nn), KB_OK);
	printf("# after prune and collection: %zu shard secrets, %zu named\n", nn, nshards(&t));
	KBT_CHECK(nn >= nshards(&t));
	kb_store_names_free(names, nn);
	krl = build(&t, &n);
	KBT_CHECK_INT((int)n, 902);
	KBT_CHECK(revoked(krl, 3 + 899 * 7919) && revoked(krl, 5));
	kb_krl_free(krl);
	json_decref(h0);
	kbt_store_close(&t);
}

/* A writer that read the head, then stalled while 105 others committed:
 * the backend has forgotten the token of its base's successor (the local
 * store keeps 100 old versions, Vault 32 tokens, AWS about 100 versions),
 * so a bare token compare-and-swap would overwrite 105 revocations.  The
 * look at the current version just before writing refuses it. */
struct stall {
	struct kb_store *other;
	int calls;
	uint64_t mark;
};

static int stall_fn(struct kb_store *s, json_t *head, void *arg, bool *changed)
{
	struct stall *st = arg;
	char sn[32];
	(void)s;
	if (st->calls++ == 0)
		for (int i = 0; i < 105; i++)
			if (add_range(st->other, ca, 7000000 + (uint64_t)i, 1, 0, NULL) != KB_OK)
				return KB_ERR_INTERNAL;
	char *line = NULL;
	if (kb_key_format_public_line(ca, NULL, &line) != KB_OK)
		return KB_ERR_NOMEM;
	snprintf(sn, sizeof(sn), "%llu", (unsigned long long)st->mark);
	json_array_append_new(json_object_get(head, "entries"), json_pack("{s:s,s:s}", "ca", line, "serial", sn));
	free(line);
	*changed = true;
	return KB_OK;
}

/* The hazard itself, shown with a bare put: it goes through and 105
 * revocations are gone.  (If a backend ever remembers every token, this
 * check fails and the comment above can be relaxed.) */
static void test_stale_token_hazard(void)
{
	struct kbt_store t;
	struct kb_store *other = NULL;
	json_t *h = NULL;
	char *base = NULL, *ver = NULL, token[33];
	uint8_t d[16];
	size_t n = 0;

	kbt_store_open(&t);
	KBT_CHECK_INT(kb_store_open(t.cfg, &other), KB_OK);
	KBT_CHECK_INT(add_range(t.s, ca, 1, 3, 0, NULL), KB_OK);
	KBT_CHECK_INT(kb_rev_head_load(t.s, &h, &base), KB_OK);
	for (int i = 0; i < 105; i++)
		KBT_CHECK_INT(add_range(other, ca, 8000000 + (uint64_t)i, 1, 0, NULL), KB_OK);
	crypto_generichash(d, sizeof(d), (const uint8_t *)base, strlen(base) + 1,
			   (const uint8_t *)"keybroker-revocations", 21);
	sodium_bin2hex(token, sizeof(token), d, sizeof(d));
	struct kb_store_put_opts o = { .token = token };
	char *text = json_dumps(h, JSON_COMPACT);
	KBT_CHECK_INT(kb_store_put(t.s, KB_REVOCATIONS_SECRET, (const uint8_t *)text, strlen(text), &o, &ver), KB_OK);
	struct kb_krl *krl = build(&t, &n);
	KBT_CHECK_INT((int)n, 3);
	printf("# a bare token CAS from a stale base: %zu of 108 entries left\n", n);
	kb_krl_free(krl);
	kb_json_free_string(text);
	free(ver);
	free(base);
	json_decref(h);
	kb_store_close(other);
	kbt_store_close(&t);
}

static void test_stale_writer(void)
{
	struct kbt_store t;
	struct kb_store *other = NULL;
	size_t n = 0;
	kbt_store_open(&t);
	KBT_CHECK_INT(kb_store_open(t.cfg, &other), KB_OK);
	KBT_CHECK_INT(add_range(t.s, ca, 1, 3, 0, NULL), KB_OK);
	struct stall st = { other, 0, 424242 };
	KBT_CHECK_INT(kb_rev_head_update(t.s, stall_fn, &st), KB_OK);
	KBT_CHECK(st.calls >= 2);
	struct kb_krl *krl = build(&t, &n);
	KBT_CHECK_INT((int)n, 3 + 105 + 1);
	KBT_CHECK(revoked(krl, 7000000) && revoked(krl, 7000104) && revoked(krl, 424242));
	kb_krl_free(krl);
	kb_store_close(other);
	kbt_store_close(&t);
}

int main(void)
{
	kb_init();
	setup();
	KBT_RUN(test_scale_and_dedup);
	KBT_RUN(test_concurrent_writers);
	KBT_RUN(test_migration);
	KBT_RUN(test_prune);
	KBT_RUN(test_stale_token_hazard);
	KBT_RUN(test_stale_writer);
	kb_key_free(ca);
	kb_key_free(ca2);
	kb_key_free(user);
	kb_key_free(other);
	kb_cert_free(cert);
	return kbt_done();
}
