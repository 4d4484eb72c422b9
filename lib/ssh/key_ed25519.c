/* ssh-ed25519 keys and signatures (libsodium). */
#include <string.h>

#include <sodium.h>

#include "core/err.h"
#include "core/mem.h"
#include "ssh/key_priv.h"

#define SEC_LEN (4 + KB_ED25519_PK + 4 + KB_ED25519_SK)

int kb_ed25519__get_public(struct kb_buf *in, struct kb_key *k)
{
	const uint8_t *p;
	size_t n;
	int r;

	if ((r = kb_buf_get_string_direct(in, &p, &n)) != KB_OK)
		return r;
	if (n != KB_ED25519_PK)
		return kb_err_set(KB_ERR_INVALID, "Ed25519 public key of %zu bytes", n);
	memcpy(k->ed_pk, p, n);
	k->bits = 256;
	return KB_OK;
}

int kb_ed25519__get_secret(struct kb_buf *in, struct kb_key *k)
{
	uint8_t pk[KB_ED25519_PK], *sk2;
	const uint8_t *p, *sk;
	size_t n, skn, start = in->off;
	int r;

	if ((r = kb_buf_get_string_direct(in, &p, &n)) != KB_OK ||
	    (r = kb_buf_get_string_direct(in, &sk, &skn)) != KB_OK)
		goto fail;
	r = KB_ERR_INVALID;
	if (n != KB_ED25519_PK || skn != KB_ED25519_SK)
		goto fail;
	if (sodium_memcmp(p, k->ed_pk, KB_ED25519_PK) != 0 || sodium_memcmp(sk + 32, k->ed_pk, 32) != 0)
		goto fail;
	/* The seed must give the public key. */
	if ((sk2 = kb_secure_alloc(KB_ED25519_SK)) == NULL) {
		r = KB_ERR_NOMEM;
		goto fail;
	}
	crypto_sign_seed_keypair(pk, sk2, sk);
	kb_secure_free(sk2);
	if (sodium_memcmp(pk, k->ed_pk, KB_ED25519_PK) != 0)
		goto fail;
	if ((r = kb_key__set_sec(k, in->data + start, in->off - start)) != KB_OK)
		goto fail;
	return KB_OK;
fail:
	in->off = start;
	if (r == KB_ERR_INVALID)
		return kb_err_set(r, "invalid Ed25519 private key");
	return r;
}

int kb_ed25519__generate(struct kb_key *k)
{
	uint8_t *sec = kb_secure_alloc(SEC_LEN);
	struct kb_buf pub;
	int r;

	if (sec == NULL)
		return KB_ERR_NOMEM;
	sec[0] = sec[1] = sec[2] = 0;
	sec[3] = KB_ED25519_PK;
	sec[4 + 32] = sec[4 + 32 + 1] = sec[4 + 32 + 2] = 0;
	sec[4 + 32 + 3] = KB_ED25519_SK;
	crypto_sign_keypair(sec + 4, sec + 4 + 32 + 4);
	memcpy(k->ed_pk, sec + 4, KB_ED25519_PK);
	k->sec = sec;
	k->sec_len = SEC_LEN;
	k->bits = 256;
	kb_buf_init(&pub, 64);
	if ((r = kb_buf_put_string(&pub, k->ed_pk, KB_ED25519_PK)) == KB_OK) {
		pub.off = pub.len;
		r = kb_key__set_pub(k, &pub, 0);
	}
	kb_buf_done(&pub);
	return r;
}

int kb_ed25519__sign(const struct kb_key *k, const uint8_t *data, size_t len, struct kb_buf *out)
{
	uint8_t sig[crypto_sign_BYTES];
	struct kb_buf in;
	const uint8_t *p, *sk;
	size_t n;
	int r;

	kb_buf_init_ro(&in, k->sec, k->sec_len);
	if (kb_buf_get_string_direct(&in, &p, &n) != KB_OK || kb_buf_get_string_direct(&in, &sk, &n) != KB_OK ||
	    n != KB_ED25519_SK)
		return KB_ERR_INTERNAL;
	crypto_sign_detached(sig, NULL, data, len, sk);
	size_t save = out->len;
	if ((r = kb_buf_put_cstring(out, "ssh-ed25519")) != KB_OK ||
	    (r = kb_buf_put_string(out, sig, sizeof(sig))) != KB_OK)
		out->len = save;
	return r;
}

int kb_ed25519__verify(const struct kb_key *k, struct kb_buf *sig, const uint8_t *data, size_t len)
{
	if (kb_buf_remaining(sig) != crypto_sign_BYTES)
		return kb_err_set(KB_ERR_SIGNATURE, "Ed25519 signature of %zu bytes", kb_buf_remaining(sig));
	if (crypto_sign_verify_detached(kb_buf_ptr(sig), data, len, k->ed_pk) != 0)
		return KB_ERR_SIGNATURE;
	return KB_OK;
}
