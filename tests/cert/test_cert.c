/* Unit tests: certificate building, signing, parsing, verification,
 * validity syntax, display; truncation and bit-flip loops. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cert/cert.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "kbtest.h"

static const enum kb_key_type all_types[] = {
	KB_KEY_ED25519, KB_KEY_ECDSA_P256, KB_KEY_ECDSA_P384, KB_KEY_ECDSA_P521, KB_KEY_RSA,
};

static struct kb_key *gen(enum kb_key_type t)
{
	struct kb_key *k = NULL;
	if (kb_key_generate(t, t == KB_KEY_RSA ? 2048 : 0, &k) != 0)
		return NULL;
	return k;
}

/* A signed user certificate for a fresh Ed25519 key, by ca. */
static struct kb_cert *make_cert(const struct kb_key *ca, struct kb_key **ret_key)
{
	struct kb_key *k = gen(KB_KEY_ED25519);
	struct kb_cert *c = NULL;

	if (k == NULL || kb_cert_new(KB_CERT_TYPE_USER, k, &c) != 0 || kb_cert_set_key_id(c, "alice@test#7") != 0 ||
	    kb_cert_add_principals(c, "alice,deploy") != 0 || kb_cert_set_validity(c, 1000, 2000) != 0 ||
	    kb_cert_set_critical(c, "force-command", "/bin/true") != 0 ||
	    kb_cert_set_critical(c, "source-address", "127.0.0.1,10.0.0.0/8,::1") != 0 ||
	    (c->serial = 7, kb_cert_sign(c, ca, NULL)) != 0) {
		kb_cert_free(c);
		kb_key_free(k);
		return NULL;
	}
	if (ret_key)
		*ret_key = k;
	else
		kb_key_free(k);
	return c;
}

static void test_sign_verify_all_ca_types(void)
{
	for (size_t i = 0; i < KB_ARRAY_SIZE(all_types); i++) {
		struct kb_key *ca = gen(all_types[i]), *k = NULL;
		struct kb_cert *c, *p = NULL;
		KBT_CHECK(ca != NULL);
		if (ca == NULL)
			continue;
		c = make_cert(ca, &k);
		KBT_CHECK(c != NULL);
		if (c != NULL) {
			KBT_CHECK_INT(kb_cert_verify(c), KB_OK);
			KBT_CHECK_INT(kb_cert_parse(c->blob.data, c->blob.len, &p), KB_OK);
			if (p != NULL) {
				KBT_CHECK_INT(kb_cert_verify(p), KB_OK);
				KBT_CHECK_STR(p->key_id, "alice@test#7");
				KBT_CHECK_INT(p->nprincipals, 2);
				KBT_CHECK_INT(p->valid_after, 1000);
				KBT_CHECK_INT(p->valid_before, 2000);
				KBT_CHECK_INT(p->type, KB_CERT_TYPE_USER);
				KBT_CHECK(kb_key_equal_public(p->key, k));
				KBT_CHECK(kb_key_equal_public(p->ca_key, ca));
				KBT_CHECK_INT(p->ncritical, 2);
				KBT_CHECK_INT(p->nextensions, 5);
				if (all_types[i] == KB_KEY_RSA)
					KBT_CHECK_STR(p->sig_alg, "rsa-sha2-512");
				char *v = NULL;
				KBT_CHECK_INT(kb_cert_option_string(kb_cert_find_critical(p, "force-command"), &v), KB_OK);
				KBT_CHECK_STR(v, "/bin/true");
				free(v);
			}
			kb_cert_free(p);
		}
		kb_cert_free(c);
		kb_key_free(k);
		kb_key_free(ca);
	}
}

static void test_rsa_sig_algs(void)
{
	static const char *const algs[] = { "rsa-sha2-256", "rsa-sha2-512", "ssh-rsa" };
	struct kb_key *ca = gen(KB_KEY_RSA), *k = gen(KB_KEY_ED25519);
	KBT_CHECK(ca != NULL && k != NULL);
	for (size_t i = 0; ca && k && i < KB_ARRAY_SIZE(algs); i++) {
		struct kb_cert *c = NULL;
		KBT_CHECK_INT(kb_cert_new(KB_CERT_TYPE_HOST, k, &c), KB_OK);
		KBT_CHECK_INT(kb_cert_sign(c, ca, algs[i]), KB_OK);
		KBT_CHECK_STR(c->sig_alg, algs[i]);
		KBT_CHECK_INT(kb_cert_verify(c), KB_OK);
		KBT_CHECK_INT(c->nextensions, 0); /* host certificates: none */
		kb_cert_free(c);
	}
	kb_key_free(ca);
	kb_key_free(k);
}

static void test_wrong_ca_and_cert_ca(void)
{
	struct kb_key *ca = gen(KB_KEY_ED25519), *other = gen(KB_KEY_ED25519);
	struct kb_cert *c = make_cert(ca, NULL);
	KBT_CHECK(c != NULL);
	if (c != NULL) {
		/* Swap in another CA key: the signature must not verify. */
		struct kb_key *saved = c->ca_key;
		kb_key_dup_public(other, &c->ca_key);
		KBT_CHECK(kb_cert_verify(c) != KB_OK);
		kb_key_free(c->ca_key);
		c->ca_key = saved;
		KBT_CHECK_INT(kb_cert_verify(c), KB_OK);
	}
	kb_cert_free(c);
	kb_key_free(ca);
	kb_key_free(other);
}

static void test_principals_and_key_id(void)
{
	struct kb_key *k = gen(KB_KEY_ED25519);
	struct kb_cert *c = NULL;
	KBT_CHECK_INT(kb_cert_new(KB_CERT_TYPE_USER, k, &c), KB_OK);
	KBT_CHECK_INT(kb_cert_add_principal(c, "a,b"), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_cert_add_principal(c, "bad\nname"), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_cert_add_principal(c, ""), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_cert_add_principals(c, "a,,b"), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_cert_set_key_id(c, "id\x01"), KB_ERR_INVALID);
	kb_cert_free(c);
	c = NULL;
	KBT_CHECK_INT(kb_cert_new(KB_CERT_TYPE_USER, k, &c), KB_OK);
	KBT_CHECK_INT(kb_cert_add_principals(c, "alice,bob,alice"), KB_OK);
	KBT_CHECK_INT(c->nprincipals, 2);
	KBT_CHECK_INT(kb_cert_check_principal(c, "alice", false), KB_OK);
	KBT_CHECK_INT(kb_cert_check_principal(c, "bob", false), KB_OK);
	KBT_CHECK_INT(kb_cert_check_principal(c, "carol", false), KB_ERR_DENIED);
	KBT_CHECK_INT(kb_cert_check_principal(c, "alic", false), KB_ERR_DENIED);
	kb_cert_free(c);
	c = NULL;
	KBT_CHECK_INT(kb_cert_new(KB_CERT_TYPE_HOST, k, &c), KB_OK);
	KBT_CHECK_INT(kb_cert_check_principal(c, "any", false), KB_ERR_DENIED);
	KBT_CHECK_INT(kb_cert_check_principal(c, "any", true), KB_OK);
	for (int i = 0; i < KB_CERT_MAX_PRINCIPALS; i++) {
		char name[16];
		snprintf(name, sizeof(name), "p%d", i);
		KBT_CHECK_INT(kb_cert_add_principal(c, name), KB_OK);
	}
	KBT_CHECK_INT(kb_cert_add_principal(c, "one-too-many"), KB_ERR_LIMIT);
	kb_cert_free(c);
	kb_key_free(k);
}

static void test_options(void)
{
	struct kb_key *k = gen(KB_KEY_ED25519);
	struct kb_cert *c = NULL;
	KBT_CHECK_INT(kb_cert_new(KB_CERT_TYPE_USER, k, &c), KB_OK);
	/* ssh-keygen's defaults, kept sorted (capital X sorts first). */
	KBT_CHECK_INT(c->nextensions, 5);
	KBT_CHECK_STR(c->extensions[0].name, "permit-X11-forwarding");
	KBT_CHECK_STR(c->extensions[4].name, "permit-user-rc");
	KBT_CHECK_INT(kb_cert_set_extension(c, "no-touch-required", NULL), KB_OK);
	KBT_CHECK_STR(c->extensions[0].name, "no-touch-required");
	KBT_CHECK_INT(kb_cert_set_extension(c, "permit-pty", "x"), KB_ERR_INVALID);
	kb_cert_remove_extension(c, "permit-pty");
	KBT_CHECK(kb_cert_find_extension(c, "permit-pty") == NULL);
	KBT_CHECK_INT(kb_cert_set_critical(c, "verify-required", NULL), KB_OK);
	KBT_CHECK_INT(kb_cert_set_critical(c, "force-command", NULL), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_cert_set_critical(c, "force-command", "/bin/a"), KB_OK);
	KBT_CHECK_INT(kb_cert_set_critical(c, "force-command", "/bin/b"), KB_OK); /* replaces */
	KBT_CHECK_INT(c->ncritical, 2);
	KBT_CHECK_STR(c->critical[0].name, "force-command");
	KBT_CHECK_STR(c->critical[1].name, "verify-required");
	KBT_CHECK_INT(kb_cert_set_critical(c, "source-address", "10.0.0.1/8"), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_cert_set_critical(c, "aaa@example.com", "v"), KB_OK);
	KBT_CHECK_STR(c->critical[0].name, "aaa@example.com");
	kb_cert_clear_options(c);
	KBT_CHECK_INT(c->ncritical + c->nextensions, 0);
	kb_cert_free(c);
	kb_key_free(k);
}

static void test_source_address(void)
{
	static const char *const good[] = { "127.0.0.1", "10.0.0.0/8", "::1", "2001:db8::/32", "0.0.0.0/0",
					    "192.168.1.0/24,::/0,10.1.2.3/32" };
	static const char *const bad[] = { "", "10.0.0.1/8", "10.0.0.300", "10.0.0.0/33", "::1/129", "a,",
					   ",10.0.0.1", "10.0.0.0/", "host.example.com", "10.0.0.0/8 ", "::1/-1" };
	for (size_t i = 0; i < KB_ARRAY_SIZE(good); i++)
		KBT_CHECK_INT(kb_cert_check_source_address(good[i]), KB_OK);
	for (size_t i = 0; i < KB_ARRAY_SIZE(bad); i++) {
		int r = kb_cert_check_source_address(bad[i]);
		if (r == KB_OK)
			printf("#   accepted bad source-address \"%s\"\n", bad[i]);
		KBT_CHECK(r != KB_OK);
	}
}

static void test_validity_syntax(void)
{
	const int64_t now = 1780000000; /* a fixed "now" */
	uint64_t a, b;

	KBT_CHECK_INT(kb_cert_parse_validity("+30m", now, &a, &b), KB_OK);
	KBT_CHECK_INT(b, now + 1800);
	KBT_CHECK(a <= (uint64_t)now && a > (uint64_t)now - 120 && a % 60 == 0);
	KBT_CHECK_INT(kb_cert_parse_validity("always:forever", now, &a, &b), KB_OK);
	KBT_CHECK(a == 0 && b == KB_CERT_VALID_FOREVER);
	KBT_CHECK_INT(kb_cert_parse_validity("-1d:+1w", now, &a, &b), KB_OK);
	KBT_CHECK(a == (uint64_t)now - 86400 && b == (uint64_t)now + 604800);
	KBT_CHECK_INT(kb_cert_parse_validity("20200101Z:20300101000000Z", now, &a, &b), KB_OK);
	KBT_CHECK_INT(a, 1577836800);
	KBT_CHECK_INT(b, 1893456000);
	KBT_CHECK_INT(kb_cert_parse_validity("0x1:0x2000000000", now, &a, &b), KB_OK);
	KBT_CHECK(a == 1 && b == 0x2000000000ULL);
	static const char *const bad[] = { "", "+", "30m", "+30x", "forever:always", "20300101Z:20200101Z",
					   ":+1h", "-1h:", "always", "0x:+1h", "0xg:+1h", "+1h:-1h", "-99999999w:+1h",
					   "2020011:+1h" };
	for (size_t i = 0; i < KB_ARRAY_SIZE(bad); i++) {
		int r = kb_cert_parse_validity(bad[i], now, &a, &b);
		if (r == KB_OK)
			printf("#   accepted bad -V \"%s\"\n", bad[i]);
		KBT_CHECK(r != KB_OK);
	}
}

static void test_time_checks(void)
{
	struct kb_key *ca = gen(KB_KEY_ED25519);
	struct kb_cert *c = make_cert(ca, NULL);
	KBT_CHECK(c != NULL);
	if (c) {
		KBT_CHECK_INT(kb_cert_check_time(c, 999), KB_ERR_EXPIRED);
		KBT_CHECK_INT(kb_cert_check_time(c, 1000), KB_OK);
		KBT_CHECK_INT(kb_cert_check_time(c, 1999), KB_OK);
		KBT_CHECK_INT(kb_cert_check_time(c, 2000), KB_ERR_EXPIRED);
	}
	kb_cert_free(c);
	kb_key_free(ca);
}

static void test_format_text_and_json(void)
{
	struct kb_key *ca = gen(KB_KEY_ED25519);
	struct kb_cert *c = make_cert(ca, NULL);
	char *text = NULL, *js = NULL;
	KBT_CHECK(c != NULL);
	if (c == NULL)
		goto out;
	KBT_CHECK_INT(kb_cert_format_text(c, &text), KB_OK);
	KBT_CHECK(text && strstr(text, "        Type: ssh-ed25519-cert-v01@openssh.com user certificate\n"));
	KBT_CHECK(text && strstr(text, "        Public key: ED25519-CERT SHA256:"));
	KBT_CHECK(text && strstr(text, "(using ssh-ed25519)\n"));
	KBT_CHECK(text && strstr(text, "        Key ID: \"alice@test#7\"\n"));
	KBT_CHECK(text && strstr(text, "        Principals: \n                alice\n                deploy\n"));
	KBT_CHECK(text && strstr(text, "        Critical Options: \n                force-command /bin/true\n"
				       "                source-address 127.0.0.1,10.0.0.0/8,::1\n"));
	KBT_CHECK(text && strstr(text, "        Extensions: \n                permit-X11-forwarding\n"));
	KBT_CHECK_INT(kb_cert_format_json(c, &js), KB_OK);
	json_t *j = js ? json_loads(js, 0, NULL) : NULL;
	KBT_CHECK(j != NULL);
	if (j) {
		KBT_CHECK_STR(json_string_value(json_object_get(j, "key_id")), "alice@test#7");
		KBT_CHECK_STR(json_string_value(json_object_get(j, "cert_type")), "user");
		KBT_CHECK_INT(json_integer_value(json_object_get(j, "valid_before")), 2000);
		KBT_CHECK_STR(json_string_value(json_object_get(j, "valid_before_utc")), "1970-01-01T00:33:20Z");
		KBT_CHECK_INT(json_array_size(json_object_get(j, "principals")), 2);
		KBT_CHECK_STR(json_string_value(json_object_get(json_object_get(j, "critical_options"), "force-command")),
			      "/bin/true");
		KBT_CHECK(json_is_true(json_object_get(json_object_get(j, "extensions"), "permit-pty")));
		json_decref(j);
	}
out:
	free(text);
	free(js);
	kb_cert_free(c);
	kb_key_free(ca);
}

static void test_truncation_and_bitflips(void)
{
	for (size_t t = 0; t < KB_ARRAY_SIZE(all_types); t++) {
		struct kb_key *ca = gen(all_types[t]);
		struct kb_cert *c = ca ? make_cert(ca, NULL) : NULL;
		KBT_CHECK(c != NULL);
		if (c == NULL) {
			kb_key_free(ca);
			continue;
		}
		size_t len = c->blob.len, accepted = 0;
		uint8_t *copy = malloc(len);
		for (size_t n = 0; n < len; n++) {
			struct kb_cert *p = NULL;
			/* exact-size copies so ASan sees any over-read */
			uint8_t *part = malloc(n ? n : 1);
			memcpy(part, c->blob.data, n);
			if (kb_cert_parse(part, n, &p) == 0)
				accepted++;
			kb_cert_free(p);
			free(part);
		}
		KBT_CHECK_INT(accepted, 0);
		accepted = 0;
		for (size_t bit = 0; bit < len * 8; bit++) {
			struct kb_cert *p = NULL;
			memcpy(copy, c->blob.data, len);
			copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			if (kb_cert_parse(copy, len, &p) == 0 && kb_cert_verify(p) == 0) {
				accepted++;
				printf("#   bit %zu flipped still verifies\n", bit);
			}
			kb_cert_free(p);
		}
		KBT_CHECK_INT(accepted, 0);
		free(copy);
		kb_cert_free(c);
		kb_key_free(ca);
	}
}

static void test_format_line_and_dup(void)
{
	struct kb_key *ca = gen(KB_KEY_ECDSA_P256);
	struct kb_cert *c = ca ? make_cert(ca, NULL) : NULL, *d = NULL;
	char *line = NULL;
	KBT_CHECK(c != NULL);
	if (c) {
		KBT_CHECK_INT(kb_cert_format_line(c, "me@host", &line), KB_OK);
		KBT_CHECK(line && strncmp(line, "ssh-ed25519-cert-v01@openssh.com AAAA", 37) == 0);
		KBT_CHECK(line && strstr(line, " me@host") != NULL);
		KBT_CHECK_INT(kb_cert_dup(c, &d), KB_OK);
		KBT_CHECK(d && kb_cert_verify(d) == 0);
	}
	free(line);
	kb_cert_free(d);
	kb_cert_free(c);
	kb_key_free(ca);
}

int main(void)
{
	if (kb_init() != 0)
		return 1;
	KBT_RUN(test_sign_verify_all_ca_types);
	KBT_RUN(test_rsa_sig_algs);
	KBT_RUN(test_wrong_ca_and_cert_ca);
	KBT_RUN(test_principals_and_key_id);
	KBT_RUN(test_options);
	KBT_RUN(test_source_address);
	KBT_RUN(test_validity_syntax);
	KBT_RUN(test_time_checks);
	KBT_RUN(test_format_text_and_json);
	KBT_RUN(test_truncation_and_bitflips);
	KBT_RUN(test_format_line_and_dup);
	return kbt_done();
}
