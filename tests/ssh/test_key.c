/* Unit tests for lib/ssh keys: every type's blob, line, fingerprint,
 * private serialisation, private file and signatures; known answers;
 * truncation and bit-flip loops; concurrent signing. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert.h"
#include "core/err.h"
#include "core/mem.h"
#include "kbtest.h"
#include "ssh/key.h"
#include "testutil.h"

static const enum kb_key_type gen_types[] = { KB_KEY_ED25519, KB_KEY_ECDSA_P256, KB_KEY_ECDSA_P384,
					      KB_KEY_ECDSA_P521, KB_KEY_RSA };
static struct kb_key *gen_keys[5];

static const uint8_t msg[] = "the quick brown fox";

static void check_sign_verify(struct kb_key *k, const char *alg, bool thorough)
{
	struct kb_buf sig;
	char *got = NULL;

	kb_buf_init(&sig, 4096);
	KBT_CHECK_INT(kb_key_sign(k, msg, sizeof(msg), alg, &sig), KB_OK);
	KBT_CHECK_INT(kb_key_verify(k, kb_buf_ptr(&sig), kb_buf_remaining(&sig), msg, sizeof(msg), NULL), KB_OK);
	KBT_CHECK_INT(kb_key_verify(k, kb_buf_ptr(&sig), kb_buf_remaining(&sig), msg, sizeof(msg) - 1, NULL),
		      KB_ERR_SIGNATURE);
	KBT_CHECK_INT(kb_sig_get_alg(kb_buf_ptr(&sig), kb_buf_remaining(&sig), &got), KB_OK);
	if (alg != NULL)
		KBT_CHECK_STR(got, alg);
	KBT_CHECK_INT(kb_key_verify(k, kb_buf_ptr(&sig), kb_buf_remaining(&sig), msg, sizeof(msg), got), KB_OK);
	KBT_CHECK_INT(kb_key_verify(k, kb_buf_ptr(&sig), kb_buf_remaining(&sig), msg, sizeof(msg), "ssh-foo"),
		      KB_ERR_SIGNATURE);
	/* Every single-bit flip must fail, never crash. */
	for (size_t i = 0; thorough && i < kb_buf_remaining(&sig) * 8; i += (kb_buf_remaining(&sig) > 200 ? 7 : 1)) {
		sig.data[sig.off + i / 8] ^= (uint8_t)(1u << (i % 8));
		int r = kb_key_verify(k, kb_buf_ptr(&sig), kb_buf_remaining(&sig), msg, sizeof(msg), NULL);
		if (r == KB_OK)
			printf("#   flip %zu verified\n", i);
		KBT_CHECK(r != KB_OK);
		sig.data[sig.off + i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	for (size_t n = 0; thorough && n < kb_buf_remaining(&sig); n++)
		KBT_CHECK(kb_key_verify(k, kb_buf_ptr(&sig), n, msg, sizeof(msg), NULL) != KB_OK);
	free(got);
	kb_buf_done(&sig);
}

static void test_generate_all(void)
{
	for (size_t i = 0; i < KB_ARRAY_SIZE(gen_types); i++) {
		KBT_CHECK_INT(kb_key_generate(gen_types[i], gen_types[i] == KB_KEY_RSA ? 2048 : 0, &gen_keys[i]),
			      KB_OK);
		if (gen_keys[i] == NULL)
			continue;
		KBT_CHECK(kb_key_is_private(gen_keys[i]));
		KBT_CHECK(!kb_key_is_cert(gen_keys[i]));
		KBT_CHECK_INT(kb_key_type(gen_keys[i]), gen_types[i]);
	}
	KBT_CHECK_INT(kb_key_bits(gen_keys[0]), 256);
	KBT_CHECK_INT(kb_key_bits(gen_keys[3]), 521);
	KBT_CHECK_INT(kb_key_bits(gen_keys[4]), 2048);
	struct kb_key *k = NULL;
	KBT_CHECK_INT(kb_key_generate(KB_KEY_DSA, 0, &k), KB_ERR_UNSUPPORTED);
	KBT_CHECK(k == NULL);
	KBT_CHECK_INT(kb_key_generate(KB_KEY_RSA, 1024, &k), KB_ERR_UNSUPPORTED);
}

static void roundtrip_one(struct kb_key *k)
{
	struct kb_buf blob, priv, file;
	struct kb_key *b = NULL, *p = NULL, *f = NULL, *l = NULL, *d = NULL;
	char fp1[KB_KEY_FP_MAX], fp2[KB_KEY_FP_MAX], *line = NULL, *comment = NULL;

	kb_buf_init(&blob, KB_KEY_BLOB_MAX);
	kb_buf_init_secure(&priv, KB_KEY_PRIVATE_FILE_MAX);
	kb_buf_init_secure(&file, KB_KEY_PRIVATE_FILE_MAX);
	KBT_CHECK_INT(kb_key_public_blob(k, &blob), KB_OK);
	KBT_CHECK_INT(kb_key_from_blob(kb_buf_ptr(&blob), kb_buf_remaining(&blob), &b), KB_OK);
	KBT_CHECK(b != NULL && kb_key_equal_public(k, b) && !kb_key_is_private(b));
	KBT_CHECK_INT(kb_key_fingerprint(k, fp1, sizeof(fp1)), KB_OK);
	KBT_CHECK_INT(strlen(fp1), 7 + 43);
	KBT_CHECK(strncmp(fp1, "SHA256:", 7) == 0);
	if (b != NULL) {
		KBT_CHECK_INT(kb_key_fingerprint(b, fp2, sizeof(fp2)), KB_OK);
		KBT_CHECK_STR(fp1, fp2);
	}
	KBT_CHECK_INT(kb_key_format_public_line(k, "a comment  with spaces", &line), KB_OK);
	KBT_CHECK_INT(kb_key_parse_public_line(line, &l, &comment), KB_OK);
	KBT_CHECK_STR(comment, "a comment  with spaces");
	KBT_CHECK(kb_key_equal_public(k, l));
	KBT_CHECK_INT(kb_key_private_serialize(k, &priv), KB_OK);
	KBT_CHECK_INT(kb_key_private_deserialize(&priv, &p), KB_OK);
	KBT_CHECK_INT(kb_buf_remaining(&priv), 0);
	KBT_CHECK(p != NULL && kb_key_is_private(p) && kb_key_equal_public(k, p));
	KBT_CHECK_INT(kb_key_write_private_file(k, "file comment", &file), KB_OK);
	free(comment);
	comment = NULL;
	KBT_CHECK_INT(kb_key_parse_private_file((const char *)kb_buf_ptr(&file), kb_buf_remaining(&file), NULL, &f,
						&comment),
		      KB_OK);
	KBT_CHECK_STR(comment, "file comment");
	KBT_CHECK(f != NULL && kb_key_is_private(f) && kb_key_equal_public(k, f));
	KBT_CHECK_INT(kb_key_dup(k, &d), KB_OK);
	if (p != NULL && f != NULL && d != NULL) {
		const char *algs[] = { NULL, "rsa-sha2-256", "rsa-sha2-512", "ssh-rsa" };
		size_t nalg = kb_key_type(k) == KB_KEY_RSA ? 4 : 1;
		for (size_t i = 0; i < nalg; i++) {
			check_sign_verify(p, algs[i], i == 0);
			check_sign_verify(f, algs[i], false);
			check_sign_verify(d, algs[i], false);
		}
		/* Signed by one copy, verified by the public-only parse. */
		struct kb_buf sig;
		kb_buf_init(&sig, 4096);
		KBT_CHECK_INT(kb_key_sign(f, msg, sizeof(msg), NULL, &sig), KB_OK);
		KBT_CHECK_INT(kb_key_verify(b, kb_buf_ptr(&sig), kb_buf_remaining(&sig), msg, sizeof(msg), NULL), KB_OK);
		kb_buf_reset(&sig);
		KBT_CHECK(kb_key_sign(b, msg, sizeof(msg), NULL, &sig) != KB_OK);
		kb_buf_done(&sig);
	}
	kb_free_string(line);
	kb_free_string(comment);
	kb_key_free(b);
	kb_key_free(p);
	kb_key_free(f);
	kb_key_free(l);
	kb_key_free(d);
	kb_buf_done(&blob);
	kb_buf_done(&priv);
	kb_buf_done(&file);
}

static void test_roundtrip_generated(void)
{
	for (size_t i = 0; i < KB_ARRAY_SIZE(gen_keys); i++)
		if (gen_keys[i] != NULL)
			roundtrip_one(gen_keys[i]);
}

/* Private files written by ssh-keygen, with their .pub files. */
static const char *const fixture_keys[] = { "user_ed25519", "user_ecdsa256", "user_ecdsa384",
					    "user_ecdsa521", "user_rsa2048", "user_dsa" };

static void test_sshkeygen_fixtures(void)
{
	for (size_t i = 0; i < KB_ARRAY_SIZE(fixture_keys); i++) {
		size_t len = 0;
		char *text = read_fixture(fixture_keys[i], &len);
		char *pubname = kb_asprintf("%s.pub", fixture_keys[i]);
		char *pubtext = read_fixture(pubname, NULL), *comment = NULL, *pcomment = NULL;
		struct kb_key *k = NULL, *pub = NULL;

		KBT_CHECK(text != NULL && pubtext != NULL);
		if (text == NULL || pubtext == NULL)
			goto next;
		KBT_CHECK_INT(kb_key_parse_private_file(text, len, NULL, &k, &comment), KB_OK);
		KBT_CHECK_INT(kb_key_parse_public_line(pubtext, &pub, &pcomment), KB_OK);
		KBT_CHECK(kb_key_equal_public(k, pub));
		if (comment != NULL && pcomment != NULL)
			KBT_CHECK_STR(comment, pcomment);
		if (k != NULL) {
			roundtrip_one(k);
			/* Truncations of the file text. */
			for (size_t n = 0; n < len; n += 3) {
				struct kb_key *t = NULL;
				int r = kb_key_parse_private_file(text, n, NULL, &t, NULL);
				KBT_CHECK(r != KB_OK || n >= len - 2);
				kb_key_free(t);
			}
			/* Byte flips in the base64 body: must fail or give the same key. */
			for (size_t n = 40; n < len - 40; n += 5) {
				struct kb_key *t = NULL;
				char save = text[n];
				text[n] = (char)(save == 'A' ? 'B' : 'A');
				if (kb_key_parse_private_file(text, len, NULL, &t, NULL) == KB_OK)
					KBT_CHECK(kb_key_equal_public(t, k));
				kb_key_free(t);
				text[n] = save;
			}
		}
	next:
		free(text);
		free(pubname);
		free(pubtext);
		kb_free_string(comment);
		free(pcomment);
		kb_key_free(k);
		kb_key_free(pub);
	}
}

/* RFC 8032 section 7.1, tests 1 and 3. */
static void test_ed25519_kat(void)
{
	static const struct {
		const char *seed, *pk, *msg, *sig;
	} v[] = {
		{ "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
		  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
		  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
		  "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b" },
		{ "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
		  "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
		  "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
		  "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a" },
	};
	for (size_t i = 0; i < KB_ARRAY_SIZE(v); i++) {
		uint8_t seed[32], pk[32], m[8], expect[64];
		size_t mlen = hex_decode(v[i].msg, m, sizeof(m));
		struct kb_buf ser, sig, in;
		struct kb_key *k = NULL;
		const uint8_t *sp;
		size_t sn;
		char *alg = NULL;

		hex_decode(v[i].seed, seed, 32);
		hex_decode(v[i].pk, pk, 32);
		hex_decode(v[i].sig, expect, 64);
		kb_buf_init_secure(&ser, 1024);
		kb_buf_init(&sig, 1024);
		kb_buf_put_cstring(&ser, "ssh-ed25519");
		kb_buf_put_string(&ser, pk, 32);
		kb_buf_put_u32(&ser, 64);
		kb_buf_put(&ser, seed, 32);
		kb_buf_put(&ser, pk, 32);
		KBT_CHECK_INT(kb_key_private_deserialize(&ser, &k), KB_OK);
		if (k != NULL) {
			KBT_CHECK_INT(kb_key_sign(k, m, mlen, NULL, &sig), KB_OK);
			kb_buf_init_ro(&in, kb_buf_ptr(&sig), kb_buf_remaining(&sig));
			KBT_CHECK_INT(kb_buf_get_cstring(&in, &alg), KB_OK);
			KBT_CHECK_STR(alg, "ssh-ed25519");
			KBT_CHECK_INT(kb_buf_get_string_direct(&in, &sp, &sn), KB_OK);
			KBT_CHECK(sn == 64 && memcmp(sp, expect, 64) == 0);
		}
		/* A seed that does not give pk is refused. */
		struct kb_key *bad = NULL;
		kb_buf_reset(&ser);
		seed[0] ^= 1;
		kb_buf_put_cstring(&ser, "ssh-ed25519");
		kb_buf_put_string(&ser, pk, 32);
		kb_buf_put_u32(&ser, 64);
		kb_buf_put(&ser, seed, 32);
		kb_buf_put(&ser, pk, 32);
		KBT_CHECK_INT(kb_key_private_deserialize(&ser, &bad), KB_ERR_INVALID);
		kb_key_free(bad);
		free(alg);
		kb_key_free(k);
		kb_buf_done(&ser);
		kb_buf_done(&sig);
	}
}

/* PKCS#1 v1.5 is deterministic: compare with signatures the openssl CLI
 * made (fixtures/make-rsa-kat.sh). */
static void test_rsa_kat(void)
{
	static const struct {
		const char *alg, *file;
	} v[] = { { "ssh-rsa", "rsa-kat.sha1.hex" },
		  { "rsa-sha2-256", "rsa-kat.sha256.hex" },
		  { "rsa-sha2-512", "rsa-kat.sha512.hex" } };
	size_t len = 0, mlen = 0;
	char *text = read_fixture("user_rsa2048", &len), *m = read_fixture("rsa-kat.msg", &mlen);
	struct kb_key *k = NULL;

	KBT_CHECK(text != NULL && m != NULL);
	if (text != NULL)
		KBT_CHECK_INT(kb_key_parse_private_file(text, len, NULL, &k, NULL), KB_OK);
	for (size_t i = 0; k != NULL && m != NULL && i < KB_ARRAY_SIZE(v); i++) {
		char *hex = read_fixture(v[i].file, NULL), *alg = NULL;
		uint8_t expect[256];
		struct kb_buf sig, in;
		const uint8_t *sp;
		size_t sn;

		KBT_CHECK(hex != NULL);
		if (hex == NULL)
			continue;
		KBT_CHECK_INT(hex_decode(hex, expect, sizeof(expect)), 256);
		kb_buf_init(&sig, 4096);
		KBT_CHECK_INT(kb_key_sign(k, (const uint8_t *)m, mlen, v[i].alg, &sig), KB_OK);
		kb_buf_init_ro(&in, kb_buf_ptr(&sig), kb_buf_remaining(&sig));
		KBT_CHECK_INT(kb_buf_get_cstring(&in, &alg), KB_OK);
		KBT_CHECK_STR(alg, v[i].alg);
		KBT_CHECK_INT(kb_buf_get_string_direct(&in, &sp, &sn), KB_OK);
		KBT_CHECK(sn == 256 && memcmp(sp, expect, 256) == 0);
		free(alg);
		free(hex);
		kb_buf_done(&sig);
	}
	kb_key_free(k);
	free(text);
	free(m);
}

static void test_blob_mutations(void)
{
	static const char *const pubs[] = { "user_ed25519.pub", "user_ecdsa256.pub", "user_ecdsa521.pub",
					    "user_rsa2048.pub", "user_dsa.pub", "user_ed25519-cert.pub",
					    "user_ecdsa256-cert.pub", "user_ecdsa384-cert.pub" };
	for (size_t i = 0; i < KB_ARRAY_SIZE(pubs); i++) {
		char *text = read_fixture(pubs[i], NULL);
		struct kb_key *k = NULL;
		struct kb_buf blob;

		KBT_CHECK(text != NULL);
		if (text == NULL)
			continue;
		KBT_CHECK_INT(kb_key_parse_public_line(text, &k, NULL), KB_OK);
		kb_buf_init(&blob, KB_KEY_BLOB_MAX);
		if (k != NULL)
			KBT_CHECK_INT(kb_key_public_blob(k, &blob), KB_OK);
		size_t n = kb_buf_remaining(&blob);
		uint8_t *b = malloc(n + 1);
		if (n > 0 && b != NULL) {
			memcpy(b, kb_buf_ptr(&blob), n);
			for (size_t t = 0; t < n; t++) {
				struct kb_key *x = NULL;
				KBT_CHECK(kb_key_from_blob(b, t, &x) != KB_OK);
				kb_key_free(x);
			}
			b[n] = 0;
			struct kb_key *x = NULL;
			KBT_CHECK_INT(kb_key_from_blob(b, n + 1, &x), KB_ERR_TRAILING);
			kb_key_free(x);
			for (size_t bit = 0; bit < n * 8; bit++) {
				b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
				x = NULL;
				if (kb_key_from_blob(b, n, &x) == KB_OK) {
					/* Accepted flips must change what we parsed. */
					struct kb_buf again;
					kb_buf_init(&again, KB_KEY_BLOB_MAX);
					KBT_CHECK_INT(kb_key_public_blob(x, &again), KB_OK);
					KBT_CHECK(kb_buf_remaining(&again) == n && memcmp(kb_buf_ptr(&again), b, n) == 0);
					kb_buf_done(&again);
				}
				kb_key_free(x);
				b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			}
		}
		free(b);
		kb_buf_done(&blob);
		kb_key_free(k);
		free(text);
	}
}

static void test_public_line_errors(void)
{
	struct kb_key *k = NULL;
	char *c = NULL;
	char *ed = read_fixture("user_ed25519.pub", NULL);

	KBT_CHECK_INT(kb_key_parse_public_line("", &k, &c), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_key_parse_public_line("ssh-ed25519", &k, &c), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_key_parse_public_line("ssh-ed25519 !!!!", &k, &c), KB_ERR_INVALID);
	if (ed != NULL) {
		/* Name must match the blob. */
		char *wrong = kb_asprintf("ssh-rsa%s", ed + strlen("ssh-ed25519"));
		KBT_CHECK_INT(kb_key_parse_public_line(wrong, &k, &c), KB_ERR_INVALID);
		free(wrong);
		/* No comment is fine. */
		char *sp = strchr(ed + 12, ' ');
		if (sp != NULL)
			*sp = '\0';
		KBT_CHECK_INT(kb_key_parse_public_line(ed, &k, &c), KB_OK);
		KBT_CHECK_STR(c, "");
	}
	free(c);
	c = NULL;
	if (k != NULL)
		KBT_CHECK(kb_key_format_public_line(k, "two\nlines", &c) != KB_OK);
	free(c);
	kb_key_free(k);
	free(ed);
}

static void test_certificates(void)
{
	char *text = read_fixture("user_ed25519-cert.pub", NULL), *ca = read_fixture("ca_ed25519.pub", NULL);
	char *plain = read_fixture("user_ed25519.pub", NULL), *priv = NULL;
	struct kb_key *k = NULL, *cak = NULL, *pk = NULL, *sk = NULL, *p2 = NULL;
	char fp1[KB_KEY_FP_MAX], fp2[KB_KEY_FP_MAX];
	size_t len = 0;

	KBT_CHECK(text != NULL && ca != NULL && plain != NULL);
	if (text == NULL || ca == NULL || plain == NULL)
		goto out;
	KBT_CHECK_INT(kb_key_parse_public_line(text, &k, NULL), KB_OK);
	KBT_CHECK_INT(kb_key_parse_public_line(ca, &cak, NULL), KB_OK);
	KBT_CHECK_INT(kb_key_parse_public_line(plain, &pk, NULL), KB_OK);
	if (k == NULL || cak == NULL || pk == NULL)
		goto out;
	KBT_CHECK(kb_key_is_cert(k));
	KBT_CHECK_STR(kb_key_ssh_name(k), "ssh-ed25519-cert-v01@openssh.com");
	KBT_CHECK_STR(kb_key_type_label(k), "ED25519-CERT");
	const struct kb_cert *c = kb_key_cert(k);
	KBT_CHECK_INT(c->type, KB_CERT_TYPE_USER);
	KBT_CHECK(c->serial == 42);
	KBT_CHECK_STR(c->key_id, "alice@kb#1");
	KBT_CHECK_INT(c->nprincipals, 2);
	if (c->nprincipals == 2) {
		KBT_CHECK_STR(c->principals[0], "alice");
		KBT_CHECK_STR(c->principals[1], "deploy");
	}
	KBT_CHECK_INT(c->ncritical, 2);
	if (c->ncritical == 2) {
		KBT_CHECK_STR(c->critical[0].name, "force-command");
		KBT_CHECK(c->critical[0].data_len == 9 && memcmp(c->critical[0].data, "/bin/true", 9) == 0);
		KBT_CHECK_STR(c->critical[1].name, "source-address");
	}
	KBT_CHECK_INT(c->nextensions, 5);
	KBT_CHECK_STR(c->sig_alg, "ssh-ed25519");
	KBT_CHECK(kb_key_equal_public(c->ca_key, cak));
	KBT_CHECK(kb_key_equal_public(k, pk));
	KBT_CHECK(c->valid_after == 1767225600ull);
	/* The CA signature covers blob[0, signed_len). */
	{
		struct kb_buf in;
		const uint8_t *s;
		size_t sn;
		kb_buf_init_ro(&in, c->blob.data, c->blob.len);
		in.off = c->signed_len;
		KBT_CHECK_INT(kb_buf_get_string_direct(&in, &s, &sn), KB_OK);
		KBT_CHECK_INT(kb_key_verify(c->ca_key, s, sn, c->blob.data, c->signed_len, NULL), KB_OK);
		KBT_CHECK(kb_key_verify(c->ca_key, s, sn, c->blob.data, c->signed_len - 1, NULL) != KB_OK);
	}
	/* A certificate as the CA key is refused. */
	{
		struct kb_buf cab, forged;
		kb_buf_init(&cab, KB_KEY_BLOB_MAX);
		kb_buf_init(&forged, KB_KEY_BLOB_MAX);
		KBT_CHECK_INT(kb_key_plain_blob(c->ca_key, &cab), KB_OK);
		size_t at = c->signed_len - kb_buf_remaining(&cab) - 4;
		KBT_CHECK(memcmp(c->blob.data + at + 4, kb_buf_ptr(&cab), kb_buf_remaining(&cab)) == 0);
		kb_buf_put(&forged, c->blob.data, at);
		kb_buf_put_string(&forged, c->blob.data, c->blob.len); /* the cert itself as CA */
		kb_buf_put(&forged, c->blob.data + c->signed_len, c->blob.len - c->signed_len);
		struct kb_cert *fc = NULL;
		KBT_CHECK_INT(kb_cert_parse(forged.data, forged.len, &fc), KB_ERR_INVALID);
		KBT_CHECK(fc == NULL);
		kb_buf_done(&cab);
		kb_buf_done(&forged);
	}
	KBT_CHECK_INT(kb_key_fingerprint(k, fp1, sizeof(fp1)), KB_OK);
	KBT_CHECK_INT(kb_key_fingerprint(pk, fp2, sizeof(fp2)), KB_OK);
	KBT_CHECK_STR(fp1, fp2);
	/* Private key with the certificate attached: serialise, file, back. */
	if ((priv = read_fixture("user_ed25519", &len)) != NULL)
		KBT_CHECK_INT(kb_key_parse_private_file(priv, len, NULL, &sk, NULL), KB_OK);
	if (sk != NULL) {
		struct kb_cert *cd = NULL;
		KBT_CHECK_INT(kb_cert_dup(c, &cd), KB_OK);
		KBT_CHECK_INT(kb_key_attach_cert(sk, cd), KB_OK);
		KBT_CHECK(kb_key_is_cert(sk));
		roundtrip_one(sk);
		struct kb_buf ser;
		kb_buf_init_secure(&ser, KB_KEY_PRIVATE_FILE_MAX);
		KBT_CHECK_INT(kb_key_private_serialize(sk, &ser), KB_OK);
		KBT_CHECK_INT(kb_key_private_deserialize(&ser, &p2), KB_OK);
		KBT_CHECK(p2 != NULL && kb_key_is_cert(p2) && kb_key_is_private(p2));
		kb_buf_done(&ser);
		/* A certificate for another key is refused. */
		struct kb_cert *other = NULL;
		KBT_CHECK_INT(kb_cert_dup(c, &other), KB_OK);
		KBT_CHECK(kb_key_attach_cert(cak, other) != KB_OK);
		kb_cert_free(other);
		kb_key_drop_cert(sk);
		KBT_CHECK(!kb_key_is_cert(sk));
	}
out:
	kb_key_free(k);
	kb_key_free(cak);
	kb_key_free(pk);
	kb_key_free(sk);
	kb_key_free(p2);
	free(text);
	free(ca);
	free(plain);
	free(priv);
}

/* Encrypted by ssh-keygen -N kbtest (aes256-ctr and aes256-gcm). */
static void test_encrypted_fixtures(void)
{
	static const char *const names[] = { "user_ed25519_enc", "user_ed25519_gcm" };
	for (size_t i = 0; i < KB_ARRAY_SIZE(names); i++) {
		size_t len = 0;
		char *text = read_fixture(names[i], &len), *comment = NULL;
		char *pubname = kb_asprintf("%s.pub", names[i]), *pubtext = read_fixture(pubname, NULL);
		struct kb_key *k = NULL, *pub = NULL, *hdr = NULL;

		KBT_CHECK(text != NULL && pubtext != NULL);
		if (text == NULL || pubtext == NULL)
			goto next;
		KBT_CHECK_INT(kb_key_parse_public_line(pubtext, &pub, NULL), KB_OK);
		KBT_CHECK_INT(kb_key_parse_private_file(text, len, NULL, &k, NULL), KB_ERR_PASSPHRASE);
		KBT_CHECK_INT(kb_key_parse_private_file(text, len, "", &k, NULL), KB_ERR_PASSPHRASE);
		KBT_CHECK_INT(kb_key_parse_private_file(text, len, "kbtesT", &k, NULL), KB_ERR_PASSPHRASE);
		KBT_CHECK(k == NULL);
		KBT_CHECK_INT(kb_key_parse_private_file(text, len, "kbtest", &k, &comment), KB_OK);
		KBT_CHECK(k != NULL && kb_key_is_private(k) && kb_key_equal_public(k, pub));
		KBT_CHECK_STR(comment, i == 0 ? "enc ctr" : "enc gcm");
		KBT_CHECK_INT(kb_key_parse_private_file_public(text, len, &hdr), KB_OK);
		KBT_CHECK(hdr != NULL && !kb_key_is_private(hdr) && kb_key_equal_public(hdr, pub));
		/* Our own encrypted output opens with the same passphrase only. */
		if (k != NULL) {
			struct kb_buf out;
			struct kb_key *back = NULL;
			kb_buf_init_secure(&out, KB_KEY_PRIVATE_FILE_MAX);
			KBT_CHECK_INT(kb_key_write_private_file_encrypted(k, "again", "other pass", 4, &out), KB_OK);
			KBT_CHECK_INT(kb_key_parse_private_file((const char *)kb_buf_ptr(&out), kb_buf_remaining(&out),
								"kbtest", &back, NULL),
				      KB_ERR_PASSPHRASE);
			KBT_CHECK_INT(kb_key_parse_private_file((const char *)kb_buf_ptr(&out), kb_buf_remaining(&out),
								"other pass", &back, NULL),
				      KB_OK);
			KBT_CHECK(back != NULL && kb_key_equal_public(back, k));
			kb_key_free(back);
			kb_buf_done(&out);
		}
	next:
		kb_key_free(k);
		kb_key_free(pub);
		kb_key_free(hdr);
		kb_free_string(comment);
		free(text);
		free(pubtext);
		free(pubname);
	}
}

/* Size and validity limits on public keys. */
static void test_public_limits(void)
{
	struct kb_buf b;
	struct kb_key *k = NULL;
	uint8_t big[KB_KEY_RSA_MAX_BITS / 8 + 8];
	char *line = read_fixture("user_ecdsa256.pub", NULL);

	kb_buf_init(&b, 64 * 1024);
	/* Ed25519 keys of 31 and 33 bytes. */
	for (size_t n = 31; n <= 33; n += 2) {
		kb_buf_reset(&b);
		memset(big, 7, sizeof(big));
		kb_buf_put_cstring(&b, "ssh-ed25519");
		kb_buf_put_string(&b, big, n);
		KBT_CHECK_INT(kb_key_from_blob(b.data, b.len, &k), KB_ERR_INVALID);
	}
	/* RSA moduli of 1000 and 16392 bits, and an even modulus. */
	static const size_t nbytes[] = { 125, KB_KEY_RSA_MAX_BITS / 8 + 1, 256 };
	for (size_t i = 0; i < KB_ARRAY_SIZE(nbytes); i++) {
		kb_buf_reset(&b);
		memset(big, 0xab, sizeof(big));
		big[nbytes[i] - 1] = i == 2 ? 0x10 : 0x11;
		kb_buf_put_cstring(&b, "ssh-rsa");
		kb_buf_put_mpint(&b, (const uint8_t *)"\x01\x00\x01", 3);
		kb_buf_put_mpint(&b, big, nbytes[i]);
		KBT_CHECK(kb_key_from_blob(b.data, b.len, &k) != KB_OK);
		KBT_CHECK(k == NULL);
	}
	/* ECDSA: a point off the curve, a compressed point, a wrong curve. */
	if (line != NULL) {
		struct kb_key *good = NULL;
		struct kb_buf blob;
		KBT_CHECK_INT(kb_key_parse_public_line(line, &good, NULL), KB_OK);
		kb_buf_init(&blob, KB_KEY_BLOB_MAX);
		if (good != NULL)
			KBT_CHECK_INT(kb_key_public_blob(good, &blob), KB_OK);
		if (blob.len == 104) {
			blob.data[blob.len - 1] ^= 1; /* y + 1: not on the curve */
			KBT_CHECK_INT(kb_key_from_blob(blob.data, blob.len, &k), KB_ERR_INVALID);
			blob.data[blob.len - 1] ^= 1;
			blob.data[blob.len - 65] = 0x02;
			KBT_CHECK_INT(kb_key_from_blob(blob.data, blob.len, &k), KB_ERR_INVALID);
			blob.data[blob.len - 65] = 0x04;
			memcpy(blob.data + 4 + 19 + 4 + 5, "384", 3); /* curve id nistp384 */
			KBT_CHECK_INT(kb_key_from_blob(blob.data, blob.len, &k), KB_ERR_INVALID);
		} else {
			KBT_CHECK_INT(blob.len, 104);
		}
		kb_key_free(good);
		kb_buf_done(&blob);
	}
	/* Over the blob cap before anything is parsed. */
	KBT_CHECK_INT(kb_key_from_blob(b.data, KB_KEY_BLOB_MAX + 1, &k), KB_ERR_TOO_LARGE);
	KBT_CHECK(k == NULL);
	free(line);
	kb_buf_done(&b);
}

static void test_type_names(void)
{
	enum kb_key_type t;
	unsigned bits;
	bool cert;

	KBT_CHECK_INT(kb_key_type_from_cli("ecdsa-p384", &t, &bits), KB_OK);
	KBT_CHECK_INT(t, KB_KEY_ECDSA_P384);
	KBT_CHECK_INT(kb_key_type_from_cli("rsa-4096", &t, &bits), KB_OK);
	KBT_CHECK_INT(bits, 4096);
	KBT_CHECK_INT(kb_key_type_from_cli("rsa-1000", &t, &bits), KB_ERR_UNSUPPORTED);
	KBT_CHECK_INT(kb_key_type_from_ssh_name("ssh-rsa-cert-v01@openssh.com", &t, &cert), KB_OK);
	KBT_CHECK(t == KB_KEY_RSA && cert);
	KBT_CHECK_INT(kb_key_type_from_ssh_name("ssh-foo", &t, &cert), KB_ERR_UNSUPPORTED);
	KBT_CHECK_STR(kb_key_type_ssh_name(KB_KEY_ECDSA_P521), "ecdsa-sha2-nistp521");
}

struct thread_arg {
	struct kb_key *k;
	int failures;
};

static void *signer(void *p)
{
	struct thread_arg *a = p;
	struct kb_buf sig;

	kb_buf_init(&sig, 4096);
	for (int i = 0; i < 200; i++) {
		kb_buf_reset(&sig);
		if (kb_key_sign(a->k, msg, sizeof(msg), NULL, &sig) != KB_OK ||
		    kb_key_verify(a->k, kb_buf_ptr(&sig), kb_buf_remaining(&sig), msg, sizeof(msg), NULL) != KB_OK)
			a->failures++;
	}
	kb_buf_done(&sig);
	return NULL;
}

static void test_concurrent_signing(void)
{
	for (size_t i = 0; i < KB_ARRAY_SIZE(gen_keys); i++) {
		pthread_t th[4];
		struct thread_arg args[4];
		if (gen_keys[i] == NULL)
			continue;
		for (int t = 0; t < 4; t++) {
			args[t] = (struct thread_arg){ gen_keys[i], 0 };
			pthread_create(&th[t], NULL, signer, &args[t]);
		}
		for (int t = 0; t < 4; t++) {
			pthread_join(th[t], NULL);
			KBT_CHECK_INT(args[t].failures, 0);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc > 1)
		fixdir = argv[1];
	kb_init();
	KBT_RUN(test_type_names);
	KBT_RUN(test_generate_all);
	KBT_RUN(test_roundtrip_generated);
	KBT_RUN(test_sshkeygen_fixtures);
	KBT_RUN(test_encrypted_fixtures);
	KBT_RUN(test_public_limits);
	KBT_RUN(test_ed25519_kat);
	KBT_RUN(test_rsa_kat);
	KBT_RUN(test_blob_mutations);
	KBT_RUN(test_public_line_errors);
	KBT_RUN(test_certificates);
	KBT_RUN(test_concurrent_signing);
	for (size_t i = 0; i < KB_ARRAY_SIZE(gen_keys); i++)
		kb_key_free(gen_keys[i]);
	return kbt_done();
}
