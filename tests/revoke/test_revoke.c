/* Unit tests: revocation documents, the KRL built from them, matching,
 * and truncation / bit-flip loops over the document parser. */
#include <stdlib.h>
#include <string.h>

#include "cert/cert.h"
#include "cert/krl.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "kbtest.h"
#include "revoke/revoke.h"
#include "ssh/key.h"

static struct kb_key *ca, *user, *other;
static struct kb_key *cert_key; /* user with a certificate by ca, serial 42 */

static void setup(void)
{
	struct kb_cert *c = NULL;
	if (kb_key_generate(KB_KEY_ED25519, 0, &ca) || kb_key_generate(KB_KEY_ED25519, 0, &user) ||
	    kb_key_generate(KB_KEY_ED25519, 0, &other) || kb_cert_new(KB_CERT_TYPE_USER, user, &c) ||
	    kb_cert_set_key_id(c, "alice@deploy#42") || kb_cert_add_principal(c, "deploy") ||
	    kb_cert_set_validity(c, 0, UINT64_MAX))
		abort();
	c->serial = 42;
	if (kb_cert_sign(c, ca, NULL) || kb_key_dup(user, &cert_key) || kb_key_attach_cert(cert_key, c))
		abort();
}

static char *doc_text(const char *entries)
{
	char *s = NULL;
	size_t n = strlen(entries) + 128;
	s = malloc(n);
	snprintf(s, n, "{\"kind\":\"%s\",\"krl_version\":3,\"entries\":[%s]}", KB_REVOCATIONS_KIND, entries);
	return s;
}

static char *line_of(const struct kb_key *k)
{
	char *l = NULL;
	KBT_CHECK_INT(kb_key_format_public_line(k, NULL, &l), KB_OK);
	return l;
}

static char *valid_doc(void)
{
	char *cal = line_of(ca), *ol = line_of(other), *s;
	size_t n = strlen(cal) + strlen(ol) + 512;
	char *e = malloc(n);
	snprintf(e, n,
		 "{\"ca\":\"%s\",\"serial\":\"42\",\"time\":\"x\"},{\"ca\":\"%s\",\"key_id\":\"bob@deploy#7\"},"
		 "{\"key\":\"%s\",\"fingerprint\":\"SHA256:x\"}",
		 cal, cal, ol);
	s = doc_text(e);
	free(e);
	free(cal);
	free(ol);
	return s;
}

static void test_parse_and_build(void)
{
	char *t = valid_doc();
	json_t *doc = NULL;
	struct kb_krl *krl = NULL;
	size_t n = 0;

	KBT_CHECK_INT(kb_revocations_parse(t, strlen(t), &doc), KB_OK);
	KBT_CHECK_INT(kb_krl_new(&krl), KB_OK);
	KBT_CHECK_INT(kb_revocations_build_krl(doc, krl, &n), KB_OK);
	KBT_CHECK_INT((int)n, 3);
	KBT_CHECK_INT(kb_krl_check_cert(krl, kb_key_cert(cert_key)), KB_ERR_REVOKED);
	KBT_CHECK_INT(kb_krl_check_key(krl, other), KB_ERR_REVOKED);
	KBT_CHECK_INT(kb_krl_check_key(krl, user), KB_OK);
	kb_krl_free(krl);
	json_decref(doc);
	free(t);
}

static void test_reject(void)
{
	const char *bad[] = {
		"", "[]", "{}", "{\"kind\":\"other\",\"entries\":[]}",
		"{\"kind\":\"" KB_REVOCATIONS_KIND "\"}",
		"{\"kind\":\"" KB_REVOCATIONS_KIND "\",\"entries\":{}}",
		"{\"kind\":\"" KB_REVOCATIONS_KIND "\",\"entries\":[],\"krl_version\":-1}",
		"{\"kind\":\"" KB_REVOCATIONS_KIND "\",\"entries\":[],\"krl_version\":\"1\"}",
		"{\"kind\":\"" KB_REVOCATIONS_KIND "\",\"kind\":\"" KB_REVOCATIONS_KIND "\",\"entries\":[]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *doc = NULL;
		KBT_CHECK_INT(kb_revocations_parse(bad[i], strlen(bad[i]), &doc), KB_ERR_INVALID);
		KBT_CHECK(doc == NULL);
	}
	/* Parses, but entries are malformed: building fails cleanly. */
	const char *badent[] = { "{\"serial\":\"42\"}", "{\"ca\":\"nonsense\",\"serial\":\"1\"}",
				 "{\"key\":\"ssh-ed25519 AAAA\"}" };
	for (size_t i = 0; i < sizeof(badent) / sizeof(badent[0]); i++) {
		char *t = doc_text(badent[i]);
		json_t *doc = NULL;
		struct kb_krl *krl = NULL;
		KBT_CHECK_INT(kb_revocations_parse(t, strlen(t), &doc), KB_OK);
		KBT_CHECK_INT(kb_krl_new(&krl), KB_OK);
		KBT_CHECK(kb_revocations_build_krl(doc, krl, NULL) != KB_OK);
		kb_krl_free(krl);
		json_decref(doc);
		free(t);
	}
}

static void test_truncate_and_flip(void)
{
	char *t = valid_doc();
	size_t len = strlen(t);
	char *copy = malloc(len + 1);

	for (size_t cut = 0; cut < len; cut++) {
		json_t *doc = NULL;
		KBT_CHECK(kb_revocations_parse(t, cut, &doc) != KB_OK);
		json_decref(doc);
	}
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			json_t *doc = NULL;
			struct kb_krl *krl = NULL;
			memcpy(copy, t, len + 1);
			copy[i] ^= (char)(1 << bit);
			if (kb_revocations_parse(copy, len, &doc) == KB_OK) {
				if (kb_krl_new(&krl) == KB_OK)
					(void)kb_revocations_build_krl(doc, krl, NULL);
				kb_krl_free(krl);
				json_decref(doc);
			}
		}
	}
	free(copy);
	free(t);
}

static void test_matches(void)
{
	struct kb_revocation r = { .ca = ca, .serial = 42 };
	KBT_CHECK(kb_revocation_matches(&r, cert_key));
	r.serial = 43;
	KBT_CHECK(!kb_revocation_matches(&r, cert_key));
	r.serial = 0;
	r.key_id = "alice@deploy#42";
	KBT_CHECK(kb_revocation_matches(&r, cert_key));
	r.ca = other; /* same key id under another CA */
	KBT_CHECK(!kb_revocation_matches(&r, cert_key));
	struct kb_revocation k = { .key = user };
	KBT_CHECK(kb_revocation_matches(&k, cert_key));
	KBT_CHECK(kb_revocation_matches(&k, user));
	KBT_CHECK(!kb_revocation_matches(&k, other));
	struct kb_revocation none = { .ca = ca, .serial = 42 };
	KBT_CHECK(!kb_revocation_matches(&none, user)); /* plain key: no serial */
}

static char *shard_text(void)
{
	char *cal = line_of(ca), *ol = line_of(other), *s;
	size_t n = strlen(cal) + strlen(ol) + 512;
	s = malloc(n);
	snprintf(s, n,
		 "{\"kind\":\"%s\",\"cas\":[\"%s\"],\"entries\":[{\"ca\":0,\"serial\":\"42\","
		 "\"valid_before\":\"2020-01-01T00:00:00Z\"},{\"ca\":0,\"key_id\":\"bob@deploy#7\"},"
		 "{\"key\":\"%s\"}]}",
		 KB_REVOCATION_SHARD_KIND, cal, ol);
	free(cal);
	free(ol);
	return s;
}

static void test_v2_head(void)
{
	const char *good = "{\"kind\":\"" KB_REVOCATIONS_KIND_V2 "\",\"krl_version\":9,"
			   "\"shards\":[\"0123456789abcdef01234567\"],\"entries\":[]}";
	json_t *doc = NULL;
	KBT_CHECK_INT(kb_revocations_parse(good, strlen(good), &doc), KB_OK);
	KBT_CHECK_INT((int)json_array_size(json_object_get(doc, "shards")), 1);
	json_decref(doc);
	/* a v1 document reads as a v2 head without shards */
	char *t = valid_doc();
	KBT_CHECK_INT(kb_revocations_parse(t, strlen(t), &doc), KB_OK);
	KBT_CHECK_STR(json_string_value(json_object_get(doc, "kind")), KB_REVOCATIONS_KIND_V2);
	KBT_CHECK_INT((int)json_array_size(json_object_get(doc, "shards")), 0);
	KBT_CHECK_INT((int)json_integer_value(json_object_get(doc, "krl_version")), 3);
	KBT_CHECK_INT((int)json_array_size(json_object_get(doc, "entries")), 3);
	json_decref(doc);
	free(t);
	const char *bad[] = {
		"{\"kind\":\"" KB_REVOCATIONS_KIND_V2 "\",\"shards\":[],\"entries\":[]}", /* no krl_version */
		"{\"kind\":\"" KB_REVOCATIONS_KIND_V2 "\",\"krl_version\":0,\"entries\":[]}", /* no shards */
		"{\"kind\":\"" KB_REVOCATIONS_KIND_V2 "\",\"krl_version\":0,\"shards\":[\"../x\"],\"entries\":[]}",
		"{\"kind\":\"" KB_REVOCATIONS_KIND_V2 "\",\"krl_version\":0,\"shards\":[\"0123456789ABCDEF01234567\"],"
		"\"entries\":[]}",
		"{\"kind\":\"" KB_REVOCATIONS_KIND_V2 "\",\"krl_version\":0,\"shards\":[\"0123456789abcdef01234567\","
		"\"0123456789abcdef01234567\"],\"entries\":[]}",
		"{\"kind\":\"" KB_REVOCATIONS_KIND_V2 "\",\"krl_version\":0,\"shards\":[],\"entries\":[1]}",
		"{\"kind\":\"" KB_REVOCATIONS_KIND "\",\"shards\":[],\"entries\":[]}", /* v1 with shards */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		KBT_CHECK_INT(kb_revocations_parse(bad[i], strlen(bad[i]), &doc), KB_ERR_INVALID);
		KBT_CHECK(doc == NULL);
	}
}

static void test_shard(void)
{
	char *t = shard_text(), *enc = NULL;
	json_t *doc = NULL, *back = NULL;
	struct kb_krl *krl = NULL;
	size_t n = 0, len = 0;

	KBT_CHECK_INT(kb_revocation_shard_parse(t, strlen(t), &doc), KB_OK);
	json_t *e0 = json_array_get(json_object_get(doc, "entries"), 0);
	char *cal = line_of(ca);
	KBT_CHECK_STR(json_string_value(json_object_get(e0, "ca")), cal); /* the index resolved */
	free(cal);
	KBT_CHECK(kb_revocation_expired(e0, 1700000000));
	KBT_CHECK(!kb_revocation_expired(e0, 1500000000));
	KBT_CHECK(!kb_revocation_expired(json_array_get(json_object_get(doc, "entries"), 1), 1700000000));
	KBT_CHECK(!kb_revocation_expired(json_array_get(json_object_get(doc, "entries"), 2), 1700000000));
	KBT_CHECK_INT(kb_krl_new(&krl), KB_OK);
	KBT_CHECK_INT(kb_revocations_build_krl(doc, krl, &n), KB_OK);
	KBT_CHECK_INT((int)n, 3);
	KBT_CHECK_INT(kb_krl_check_cert(krl, kb_key_cert(cert_key)), KB_ERR_REVOKED);
	KBT_CHECK_INT(kb_krl_check_key(krl, other), KB_ERR_REVOKED);
	kb_krl_free(krl);
	/* encode -> parse gives the same entries */
	KBT_CHECK_INT(kb_revocation_shard_encode(json_object_get(doc, "entries"), &enc, &len), KB_OK);
	KBT_CHECK_INT(kb_revocation_shard_parse(enc, len, &back), KB_OK);
	KBT_CHECK(json_equal(json_object_get(doc, "entries"), json_object_get(back, "entries")));
	kb_json_free_string(enc);
	json_decref(back);
	/* digests: same revocation, same digest; other metadata does not matter */
	uint8_t d1[16], d2[16];
	json_t *c = json_deep_copy(e0);
	json_object_set_new(c, "reason", json_string("other"));
	kb_revocation_entry_digest(e0, d1);
	kb_revocation_entry_digest(c, d2);
	KBT_CHECK(memcmp(d1, d2, 16) == 0);
	json_object_set_new(c, "serial", json_string("43"));
	kb_revocation_entry_digest(c, d2);
	KBT_CHECK(memcmp(d1, d2, 16) != 0);
	json_decref(c);
	json_decref(doc);
	const char *bad[] = {
		"{\"kind\":\"" KB_REVOCATION_SHARD_KIND "\",\"cas\":[],\"entries\":[{\"ca\":0,\"serial\":\"1\"}]}",
		"{\"kind\":\"" KB_REVOCATION_SHARD_KIND "\",\"cas\":[\"x\"],\"entries\":[{\"ca\":-1}]}",
		"{\"kind\":\"" KB_REVOCATION_SHARD_KIND "\",\"cas\":[\"x\"],\"entries\":[{\"ca\":\"x\"}]}",
		"{\"kind\":\"" KB_REVOCATION_SHARD_KIND "\",\"cas\":[1],\"entries\":[]}",
		"{\"kind\":\"" KB_REVOCATION_SHARD_KIND "\",\"entries\":[]}",
		"{\"kind\":\"" KB_REVOCATIONS_KIND_V2 "\",\"cas\":[],\"entries\":[]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		KBT_CHECK_INT(kb_revocation_shard_parse(bad[i], strlen(bad[i]), &doc), KB_ERR_INVALID);
		KBT_CHECK(doc == NULL);
	}
	/* truncation and bit flips: never a crash or leak */
	size_t tl = strlen(t);
	char *copy = malloc(tl + 1);
	for (size_t cut = 0; cut < tl; cut++) {
		KBT_CHECK(kb_revocation_shard_parse(t, cut, &doc) != KB_OK);
		json_decref(doc);
	}
	for (size_t i = 0; i < tl; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(copy, t, tl + 1);
			copy[i] ^= (char)(1 << bit);
			if (kb_revocation_shard_parse(copy, tl, &doc) == KB_OK) {
				if (kb_krl_new(&krl) == KB_OK)
					(void)kb_revocations_build_krl(doc, krl, NULL);
				kb_krl_free(krl);
				json_decref(doc);
			}
		}
	}
	free(copy);
	free(t);
}

int main(void)
{
	kb_init();
	setup();
	KBT_RUN(test_parse_and_build);
	KBT_RUN(test_reject);
	KBT_RUN(test_truncate_and_flip);
	KBT_RUN(test_matches);
	KBT_RUN(test_v2_head);
	KBT_RUN(test_shard);
	kb_key_free(ca);
	kb_key_free(user);
	kb_key_free(other);
	kb_key_free(cert_key);
	return kbt_done();
}
