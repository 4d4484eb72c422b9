/* openssh-key-v1 private key files (PROTOCOL.key): unencrypted read and
 * write; encrypted (bcrypt KDF with aes256-ctr or aes256-gcm@openssh.com)
 * read. */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "core/err.h"
#include "core/mem.h"
#include "ssh/bcrypt_pbkdf.h"
#include "ssh/key_priv.h"
#include "ssh/ossl.h"

#define BEGIN_MARK "-----BEGIN OPENSSH PRIVATE KEY-----"
#define END_MARK "-----END OPENSSH PRIVATE KEY-----"
#define MAGIC "openssh-key-v1"
#define MAX_ROUNDS 1024u
#define MAX_SALT 1024u
#define WRAP 70

struct cipher {
	const char *name;
	const char *evp;
	size_t keylen, ivlen, block, authlen;
};

static const struct cipher ciphers[] = {
	{ "none", NULL, 0, 0, 8, 0 },
	{ "aes256-ctr", "AES-256-CTR", 32, 16, 16, 0 },
	{ "aes256-gcm@openssh.com", "AES-256-GCM", 32, 12, 16, 16 },
};

static bool is_ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The binary between the armour lines, into a secure buffer. */
static int dearmour(const char *text, size_t len, struct kb_buf *out)
{
	const char *p = text, *end = text + len, *b, *e;

	while (p < end && is_ws((uint8_t)*p))
		p++;
	if ((size_t)(end - p) < sizeof(BEGIN_MARK) - 1 || memcmp(p, BEGIN_MARK, sizeof(BEGIN_MARK) - 1) != 0)
		return kb_err_set(KB_ERR_INVALID, "not an OpenSSH private key (no BEGIN OPENSSH PRIVATE KEY line)");
	b = p + sizeof(BEGIN_MARK) - 1;
	e = memmem(b, (size_t)(end - b), END_MARK, sizeof(END_MARK) - 1);
	if (e == NULL)
		return kb_err_set(KB_ERR_TRUNCATED, "no END OPENSSH PRIVATE KEY line");
	for (p = e + sizeof(END_MARK) - 1; p < end; p++)
		if (!is_ws((uint8_t)*p))
			return kb_err_set(KB_ERR_TRAILING, "data after the END OPENSSH PRIVATE KEY line");
	if (kb_buf_put_from_base64(out, b, (size_t)(e - b)) != KB_OK)
		return kb_err_set(KB_ERR_INVALID, "bad base64 in private key");
	return KB_OK;
}

static int decrypt(const struct cipher *c, const uint8_t *keyiv, const uint8_t *in, size_t len,
		   const uint8_t *tag, struct kb_buf *out)
{
	EVP_CIPHER *ciph = NULL;
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t *dst;
	int n = 0, fin = 0, r;

	if (len > INT32_MAX)
		return KB_ERR_TOO_LARGE;
	if ((r = kb_buf_reserve(out, len, &dst)) != KB_OK)
		return r;
	if ((ciph = EVP_CIPHER_fetch(NULL, c->evp, NULL)) == NULL || (ctx = EVP_CIPHER_CTX_new()) == NULL) {
		r = kb_ossl_err("cipher");
		goto out;
	}
	if (EVP_DecryptInit_ex2(ctx, ciph, NULL, NULL, NULL) != 1 ||
	    (c->authlen > 0 && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, (int)c->ivlen, NULL) != 1) ||
	    EVP_DecryptInit_ex2(ctx, NULL, keyiv, keyiv + c->keylen, NULL) != 1 ||
	    EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 || EVP_DecryptUpdate(ctx, dst, &n, in, (int)len) != 1) {
		r = kb_ossl_err("decryption");
		goto out;
	}
	if (c->authlen > 0 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, (int)c->authlen, (void *)(uintptr_t)tag) != 1) {
		r = kb_ossl_err("decryption");
		goto out;
	}
	if (EVP_DecryptFinal_ex(ctx, dst + n, &fin) != 1) {
		/* GCM tag mismatch: almost always the wrong passphrase. */
		ERR_clear_error();
		r = KB_ERR_PASSPHRASE;
		goto out;
	}
	r = (size_t)(n + fin) == len ? KB_OK : KB_ERR_INTERNAL;
out:
	if (r != KB_OK)
		kb_buf_reset(out);
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(ciph);
	return r;
}

/* Turns the (possibly encrypted) private section into plaintext. */
static int open_section(const struct cipher *c, const char *kdf, struct kb_buf *kdfopts, const char *passphrase,
			const uint8_t *enc, size_t enclen, const uint8_t *tag, struct kb_buf *plain)
{
	const uint8_t *salt;
	size_t saltlen;
	uint32_t rounds;
	uint8_t *keyiv = NULL;
	int r;

	if (enclen % c->block != 0)
		return kb_err_set(KB_ERR_INVALID, "private section not a multiple of the cipher block size");
	if (c->evp == NULL) {
		if (strcmp(kdf, "none") != 0 || kb_buf_remaining(kdfopts) != 0)
			return kb_err_set(KB_ERR_INVALID, "unencrypted key with KDF '%.32s'", kdf);
		return kb_buf_put(plain, enc, enclen);
	}
	if (strcmp(kdf, "bcrypt") != 0)
		return kb_err_set(KB_ERR_UNSUPPORTED, "unsupported key derivation '%.32s'", kdf);
	if (kb_buf_get_string_direct(kdfopts, &salt, &saltlen) != KB_OK || kb_buf_get_u32(kdfopts, &rounds) != KB_OK ||
	    kb_buf_expect_end(kdfopts) != KB_OK)
		return kb_err_set(KB_ERR_INVALID, "bad bcrypt KDF options");
	if (saltlen == 0 || saltlen > MAX_SALT || rounds == 0 || rounds > MAX_ROUNDS)
		return kb_err_set(KB_ERR_UNSUPPORTED, "bcrypt KDF salt of %zu bytes, %u rounds (at most %u)", saltlen,
				  rounds, MAX_ROUNDS);
	if (passphrase == NULL || passphrase[0] == '\0')
		return kb_err_set(KB_ERR_PASSPHRASE, "the key is encrypted: a passphrase is needed");
	if ((keyiv = kb_secure_alloc(c->keylen + c->ivlen)) == NULL)
		return KB_ERR_NOMEM;
	if ((r = kb_bcrypt_pbkdf(passphrase, strlen(passphrase), salt, saltlen, keyiv, c->keylen + c->ivlen,
				 rounds)) == KB_OK)
		r = decrypt(c, keyiv, enc, enclen, tag, plain);
	kb_secure_free(keyiv);
	return r;
}

int kb_key_parse_private_file(const char *text, size_t len, const char *passphrase, struct kb_key **ret,
			      char **ret_comment)
{
	struct kb_buf raw, in, kdfopts, plain, pubblob;
	const struct cipher *c = NULL;
	char *cipher = NULL, *kdf = NULL, *comment = NULL;
	const uint8_t *pub, *enc, *tag = NULL;
	size_t publen, enclen;
	uint32_t nkeys, check1, check2;
	struct kb_key *k = NULL;
	uint8_t magic[sizeof(MAGIC)];
	int r;

	*ret = NULL;
	if (ret_comment != NULL)
		*ret_comment = NULL;
	if (len > KB_KEY_PRIVATE_FILE_MAX)
		return kb_err_set(KB_ERR_TOO_LARGE, "private key file larger than %u bytes", KB_KEY_PRIVATE_FILE_MAX);
	kb_buf_init_secure(&raw, KB_KEY_PRIVATE_FILE_MAX);
	kb_buf_init_secure(&plain, KB_KEY_PRIVATE_FILE_MAX);
	kb_buf_init(&pubblob, KB_KEY_BLOB_MAX);
	if ((r = dearmour(text, len, &raw)) != KB_OK)
		goto out;
	kb_buf_init_ro(&in, kb_buf_ptr(&raw), kb_buf_remaining(&raw));
	if (kb_buf_get(&in, magic, sizeof(magic)) != KB_OK || memcmp(magic, MAGIC, sizeof(magic)) != 0) {
		r = kb_err_set(KB_ERR_INVALID, "not an openssh-key-v1 key");
		goto out;
	}
	if ((r = kb_buf_get_cstring(&in, &cipher)) != KB_OK || (r = kb_buf_get_cstring(&in, &kdf)) != KB_OK ||
	    (r = kb_buf_get_sub(&in, &kdfopts)) != KB_OK || (r = kb_buf_get_u32(&in, &nkeys)) != KB_OK)
		goto bad;
	for (size_t i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++)
		if (strcmp(cipher, ciphers[i].name) == 0)
			c = &ciphers[i];
	if (c == NULL) {
		r = kb_err_set(KB_ERR_UNSUPPORTED, "unsupported cipher '%.64s'", cipher);
		goto out;
	}
	if (nkeys != 1) {
		r = kb_err_set(KB_ERR_UNSUPPORTED, "file holds %u keys (only 1 is supported)", nkeys);
		goto out;
	}
	if ((r = kb_buf_get_string_direct(&in, &pub, &publen)) != KB_OK ||
	    (r = kb_buf_get_string_direct(&in, &enc, &enclen)) != KB_OK)
		goto bad;
	if (c->authlen > 0) {
		tag = kb_buf_ptr(&in);
		if ((r = kb_buf_skip(&in, c->authlen)) != KB_OK)
			goto bad;
	}
	if ((r = kb_buf_expect_end(&in)) != KB_OK)
		goto bad;
	if ((r = open_section(c, kdf, &kdfopts, passphrase, enc, enclen, tag, &plain)) != KB_OK)
		goto out;
	if ((r = kb_buf_get_u32(&plain, &check1)) != KB_OK || (r = kb_buf_get_u32(&plain, &check2)) != KB_OK)
		goto bad;
	if (check1 != check2) {
		r = c->evp != NULL ? KB_ERR_PASSPHRASE : kb_err_set(KB_ERR_INVALID, "private key check bytes differ");
		goto out;
	}
	if ((r = kb_key_private_deserialize(&plain, &k)) != KB_OK)
		goto out;
	if ((r = kb_buf_get_cstring(&plain, &comment)) != KB_OK)
		goto bad;
	/* Padding 1, 2, 3, ... up to the block size. */
	size_t padlen = kb_buf_remaining(&plain);
	if (padlen >= c->block) {
		r = kb_err_set(KB_ERR_INVALID, "bad padding in private key");
		goto out;
	}
	for (size_t i = 0; i < padlen; i++) {
		if (kb_buf_ptr(&plain)[i] != (uint8_t)(i + 1)) {
			r = kb_err_set(KB_ERR_INVALID, "bad padding in private key");
			goto out;
		}
	}
	if ((r = kb_key_public_blob(k, &pubblob)) != KB_OK)
		goto out;
	if (kb_buf_remaining(&pubblob) != publen || memcmp(kb_buf_ptr(&pubblob), pub, publen) != 0) {
		r = kb_err_set(KB_ERR_INVALID, "public key does not match the private key");
		goto out;
	}
	*ret = k;
	k = NULL;
	if (ret_comment != NULL) {
		*ret_comment = comment;
		comment = NULL;
	}
	r = KB_OK;
	goto out;
bad:
	if (r == KB_ERR_TRUNCATED || r == KB_ERR_TRAILING || r == KB_ERR_EMBEDDED_NUL)
		r = kb_err_set(KB_ERR_INVALID, "corrupt private key file (%s)", kb_err_str(r));
out:
	free(cipher);
	free(kdf);
	kb_free_string(comment);
	kb_key_free(k);
	kb_buf_done(&raw);
	kb_buf_done(&plain);
	kb_buf_done(&pubblob);
	return r;
}

int kb_key_parse_private_file_public(const char *text, size_t len, struct kb_key **ret)
{
	struct kb_buf raw, in;
	const uint8_t *pub;
	size_t publen;
	uint8_t magic[sizeof(MAGIC)];
	int r;

	*ret = NULL;
	if (len > KB_KEY_PRIVATE_FILE_MAX)
		return kb_err_set(KB_ERR_TOO_LARGE, "private key file larger than %u bytes", KB_KEY_PRIVATE_FILE_MAX);
	kb_buf_init_secure(&raw, KB_KEY_PRIVATE_FILE_MAX);
	if ((r = dearmour(text, len, &raw)) != KB_OK)
		goto out;
	kb_buf_init_ro(&in, kb_buf_ptr(&raw), kb_buf_remaining(&raw));
	if (kb_buf_get(&in, magic, sizeof(magic)) != KB_OK || memcmp(magic, MAGIC, sizeof(magic)) != 0) {
		r = kb_err_set(KB_ERR_INVALID, "not an openssh-key-v1 key");
		goto out;
	}
	for (int i = 0; i < 3; i++) {
		const uint8_t *p;
		size_t n;
		if (kb_buf_get_string_direct(&in, &p, &n) != KB_OK) {
			r = kb_err_set(KB_ERR_INVALID, "corrupt private key file");
			goto out;
		}
	}
	uint32_t nkeys;
	if (kb_buf_get_u32(&in, &nkeys) != KB_OK || nkeys != 1 ||
	    kb_buf_get_string_direct(&in, &pub, &publen) != KB_OK) {
		r = kb_err_set(KB_ERR_INVALID, "corrupt private key file");
		goto out;
	}
	r = kb_key_from_blob(pub, publen, ret);
out:
	kb_buf_done(&raw);
	return r;
}

static int encrypt_ctr(const uint8_t *keyiv, struct kb_buf *sec)
{
	EVP_CIPHER_CTX *ctx = NULL;
	int n = 0, fin = 0, r = KB_OK;

	if (kb_buf_remaining(sec) > INT32_MAX)
		return KB_ERR_TOO_LARGE;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_ctr(), NULL, keyiv, keyiv + 32) != 1 ||
	    EVP_EncryptUpdate(ctx, sec->data + sec->off, &n, sec->data + sec->off, (int)kb_buf_remaining(sec)) != 1 ||
	    EVP_EncryptFinal_ex(ctx, sec->data + sec->off + n, &fin) != 1 ||
	    (size_t)(n + fin) != kb_buf_remaining(sec))
		r = kb_ossl_err("encryption");
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

int kb_key_write_private_file(const struct kb_key *k, const char *comment, struct kb_buf *out)
{
	return kb_key_write_private_file_encrypted(k, comment, NULL, 0, out);
}

int kb_key_write_private_file_encrypted(const struct kb_key *k, const char *comment, const char *passphrase,
					unsigned rounds, struct kb_buf *out)
{
	struct kb_buf bin, sec, pub, b64, kdfopts;
	size_t save = out->len, block = 8;
	uint32_t check = randombytes_random();
	uint8_t salt[16], *keyiv = NULL;
	bool encrypt = passphrase != NULL && passphrase[0] != '\0';
	int r;

	if (k->sec == NULL)
		return kb_err_set(KB_ERR_INVALID, "not a private key");
	if (encrypt) {
		block = 16;
		if (rounds == 0)
			rounds = 16;
		if (rounds > MAX_ROUNDS)
			return kb_err_set(KB_ERR_INVALID, "at most %u KDF rounds", MAX_ROUNDS);
	}
	kb_buf_init_secure(&bin, KB_KEY_PRIVATE_FILE_MAX);
	kb_buf_init_secure(&sec, KB_KEY_PRIVATE_FILE_MAX);
	kb_buf_init_secure(&b64, KB_KEY_PRIVATE_FILE_MAX);
	kb_buf_init(&pub, KB_KEY_BLOB_MAX);
	kb_buf_init(&kdfopts, 64);
	if ((r = kb_buf_put_u32(&sec, check)) != KB_OK || (r = kb_buf_put_u32(&sec, check)) != KB_OK ||
	    (r = kb_key_private_serialize(k, &sec)) != KB_OK ||
	    (r = kb_buf_put_cstring(&sec, comment ? comment : "")) != KB_OK)
		goto out;
	for (uint8_t i = 1; kb_buf_remaining(&sec) % block != 0; i++)
		if ((r = kb_buf_put_u8(&sec, i)) != KB_OK)
			goto out;
	if (encrypt) {
		randombytes_buf(salt, sizeof(salt));
		if ((r = kb_buf_put_string(&kdfopts, salt, sizeof(salt))) != KB_OK ||
		    (r = kb_buf_put_u32(&kdfopts, rounds)) != KB_OK)
			goto out;
		if ((keyiv = kb_secure_alloc(48)) == NULL) {
			r = KB_ERR_NOMEM;
			goto out;
		}
		if ((r = kb_bcrypt_pbkdf(passphrase, strlen(passphrase), salt, sizeof(salt), keyiv, 48, rounds)) !=
			    KB_OK ||
		    (r = encrypt_ctr(keyiv, &sec)) != KB_OK)
			goto out;
	}
	if ((r = kb_key_public_blob(k, &pub)) != KB_OK)
		goto out;
	if ((r = kb_buf_put(&bin, MAGIC, sizeof(MAGIC))) != KB_OK ||
	    (r = kb_buf_put_cstring(&bin, encrypt ? "aes256-ctr" : "none")) != KB_OK ||
	    (r = kb_buf_put_cstring(&bin, encrypt ? "bcrypt" : "none")) != KB_OK ||
	    (r = kb_buf_put_stringb(&bin, &kdfopts)) != KB_OK || (r = kb_buf_put_u32(&bin, 1)) != KB_OK ||
	    (r = kb_buf_put_stringb(&bin, &pub)) != KB_OK || (r = kb_buf_put_stringb(&bin, &sec)) != KB_OK)
		goto out;
	if ((r = kb_buf_put_base64(&b64, kb_buf_ptr(&bin), kb_buf_remaining(&bin))) != KB_OK)
		goto out;
	if ((r = kb_buf_put(out, BEGIN_MARK "\n", sizeof(BEGIN_MARK))) != KB_OK)
		goto out;
	for (size_t off = 0; off < kb_buf_remaining(&b64); off += WRAP) {
		size_t n = kb_buf_remaining(&b64) - off;
		if (n > WRAP)
			n = WRAP;
		if ((r = kb_buf_put(out, kb_buf_ptr(&b64) + off, n)) != KB_OK || (r = kb_buf_put_u8(out, '\n')) != KB_OK)
			goto out;
	}
	r = kb_buf_put(out, END_MARK "\n", sizeof(END_MARK));
out:
	if (r != KB_OK) {
		if (out->len > save)
			kb_wipe(out->data + save, out->len - save);
		out->len = save;
	}
	kb_secure_free(keyiv);
	kb_buf_done(&bin);
	kb_buf_done(&sec);
	kb_buf_done(&b64);
	kb_buf_done(&pub);
	kb_buf_done(&kdfopts);
	return r;
}
