/* ssh-rsa keys; rsa-sha2-256, rsa-sha2-512 and ssh-rsa (SHA-1)
 * signatures (OpenSSL EVP, PKCS#1 v1.5). */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/err.h"
#include "core/mem.h"
#include "ssh/key_priv.h"
#include "ssh/ossl.h"

#define MAX_BYTES (KB_KEY_RSA_MAX_BITS / 8)
#define E_MAX_BYTES 8

static int check_public(const BIGNUM *e, const BIGNUM *n, unsigned *bits)
{
	int nb = BN_num_bits(n);

	if (nb < KB_KEY_RSA_MIN_BITS || nb > KB_KEY_RSA_MAX_BITS)
		return kb_err_set(KB_ERR_INVALID, "RSA modulus of %d bits (allowed %d to %d)", nb,
				  KB_KEY_RSA_MIN_BITS, KB_KEY_RSA_MAX_BITS);
	if (!BN_is_odd(e) || BN_is_one(e) || !BN_is_odd(n))
		return kb_err_set(KB_ERR_INVALID, "invalid RSA public key");
	*bits = (unsigned)nb;
	return KB_OK;
}

static int build_public(const BIGNUM *e, const BIGNUM *n, EVP_PKEY **ret)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	int r;

	if (bld == NULL)
		return KB_ERR_NOMEM;
	if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
		r = kb_ossl_err("OSSL_PARAM_BLD");
	else
		r = kb_pkey__fromdata("RSA", bld, false, ret);
	OSSL_PARAM_BLD_free(bld);
	return r;
}

int kb_rsa__get_public(struct kb_buf *in, struct kb_key *k)
{
	BIGNUM *e = NULL, *n = NULL;
	size_t start = in->off;
	int r;

	if ((r = kb_bn__get_mpint(in, E_MAX_BYTES, false, &e)) != KB_OK ||
	    (r = kb_bn__get_mpint(in, MAX_BYTES, false, &n)) != KB_OK ||
	    (r = check_public(e, n, &k->bits)) != KB_OK || (r = build_public(e, n, &k->pkey)) != KB_OK)
		in->off = start;
	BN_free(e);
	BN_free(n);
	return r;
}

int kb_rsa__get_private_prefix(struct kb_buf *in, struct kb_key **ret)
{
	BIGNUM *e = NULL, *n = NULL;
	struct kb_buf pub;
	size_t start = in->off;
	int r;

	*ret = NULL;
	kb_buf_init(&pub, 2 * MAX_BYTES + 64);
	if ((r = kb_bn__get_mpint(in, MAX_BYTES, false, &n)) != KB_OK ||
	    (r = kb_bn__get_mpint(in, E_MAX_BYTES, false, &e)) != KB_OK ||
	    (r = kb_bn__put_mpint(&pub, e)) != KB_OK || (r = kb_bn__put_mpint(&pub, n)) != KB_OK ||
	    (r = kb_key_get_public_fields(KB_KEY_RSA, &pub, ret)) != KB_OK)
		in->off = start;
	BN_free(e);
	BN_free(n);
	kb_buf_done(&pub);
	return r;
}

int kb_rsa__put_private_prefix(const struct kb_key *k, struct kb_buf *out)
{
	struct kb_buf in;
	const uint8_t *e, *n;
	size_t elen, nlen;
	int r;

	kb_buf_init_ro(&in, k->pub, k->pub_len);
	if (kb_buf_get_string_direct(&in, &e, &elen) != KB_OK || kb_buf_get_string_direct(&in, &n, &nlen) != KB_OK)
		return KB_ERR_INTERNAL;
	if ((r = kb_buf_put_string(out, n, nlen)) != KB_OK)
		return r;
	return kb_buf_put_string(out, e, elen);
}

int kb_rsa__get_secret(struct kb_buf *in, struct kb_key *k)
{
	BIGNUM *e = NULL, *n = NULL, *d = NULL, *iqmp = NULL, *p = NULL, *q = NULL;
	BIGNUM *dmp1 = NULL, *dmq1 = NULL, *t = NULL;
	BN_CTX *bnctx = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;
	size_t start = in->off;
	int r;

	kb_ossl_init();
	if (EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
	    EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
		r = kb_ossl_err("RSA public key export");
		goto out;
	}
	size_t nbytes = (size_t)BN_num_bytes(n);
	if ((r = kb_bn__get_mpint(in, nbytes, true, &d)) != KB_OK ||
	    (r = kb_bn__get_mpint(in, nbytes, true, &iqmp)) != KB_OK ||
	    (r = kb_bn__get_mpint(in, nbytes, true, &p)) != KB_OK ||
	    (r = kb_bn__get_mpint(in, nbytes, true, &q)) != KB_OK)
		goto out;
	r = KB_ERR_NOMEM;
	if ((bnctx = BN_CTX_secure_new()) == NULL || (dmp1 = BN_secure_new()) == NULL ||
	    (dmq1 = BN_secure_new()) == NULL || (t = BN_secure_new()) == NULL)
		goto out;
	BN_set_flags(dmp1, BN_FLG_CONSTTIME);
	BN_set_flags(dmq1, BN_FLG_CONSTTIME);
	r = kb_err_set(KB_ERR_INVALID, "invalid RSA private key");
	if (BN_is_zero(p) || BN_is_zero(q) || BN_is_zero(d) || BN_is_one(p) || BN_is_one(q))
		goto out;
	/* n = p*q, iqmp*q = 1 (mod p). */
	if (BN_mul(t, p, q, bnctx) != 1 || BN_cmp(t, n) != 0)
		goto out;
	if (BN_mod_mul(t, iqmp, q, p, bnctx) != 1 || !BN_is_one(t))
		goto out;
	if (BN_sub(t, p, BN_value_one()) != 1 || BN_mod(dmp1, d, t, bnctx) != 1 ||
	    BN_sub(t, q, BN_value_one()) != 1 || BN_mod(dmq1, d, t, bnctx) != 1)
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dmp1) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dmq1) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, iqmp) != 1) {
		r = kb_ossl_err("OSSL_PARAM_BLD");
		goto out;
	}
	if ((r = kb_pkey__fromdata("RSA", bld, true, &pkey)) != KB_OK)
		goto out;
	if ((r = kb_key__set_sec(k, in->data + start, in->off - start)) != KB_OK)
		goto out;
	EVP_PKEY_free(k->pkey);
	k->pkey = pkey;
	pkey = NULL;
	r = KB_OK;
out:
	if (r != KB_OK)
		in->off = start;
	EVP_PKEY_free(pkey);
	OSSL_PARAM_BLD_free(bld);
	BN_CTX_free(bnctx);
	BN_free(e);
	BN_free(n);
	BN_clear_free(d);
	BN_clear_free(iqmp);
	BN_clear_free(p);
	BN_clear_free(q);
	BN_clear_free(dmp1);
	BN_clear_free(dmq1);
	BN_clear_free(t);
	return r;
}

int kb_rsa__generate(struct kb_key *k, unsigned bits)
{
	static const char *const names[] = { OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
					     OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2 };
	EVP_PKEY *gen = NULL;
	BIGNUM *e = NULL, *n = NULL, *x = NULL;
	struct kb_buf pub, sec;
	int r = KB_OK;

	if (bits < 2048 || bits > 8192)
		return kb_err_set(KB_ERR_UNSUPPORTED, "cannot generate %u-bit RSA keys (2048 to 8192)", bits);
	kb_ossl_init();
	kb_buf_init(&pub, 2 * MAX_BYTES + 64);
	kb_buf_init_secure(&sec, 4 * MAX_BYTES + 64);
	if ((gen = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits)) == NULL) {
		r = kb_ossl_err("RSA key generation");
		goto out;
	}
	if (EVP_PKEY_get_bn_param(gen, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
	    EVP_PKEY_get_bn_param(gen, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
		r = kb_ossl_err("RSA key export");
		goto out;
	}
	if ((r = kb_bn__put_mpint(&pub, e)) != KB_OK || (r = kb_bn__put_mpint(&pub, n)) != KB_OK)
		goto out;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((x = BN_secure_new()) == NULL) {
			r = KB_ERR_NOMEM;
			goto out;
		}
		if (EVP_PKEY_get_bn_param(gen, names[i], &x) != 1) {
			r = kb_ossl_err("RSA key export");
			goto out;
		}
		if ((r = kb_bn__put_mpint(&sec, x)) != KB_OK)
			goto out;
		BN_clear_free(x);
		x = NULL;
	}
	if ((r = kb_rsa__get_public(&pub, k)) != KB_OK || (r = kb_key__set_pub(k, &pub, 0)) != KB_OK ||
	    (r = kb_rsa__get_secret(&sec, k)) != KB_OK)
		goto out;
out:
	BN_clear_free(x);
	BN_free(e);
	BN_free(n);
	EVP_PKEY_free(gen);
	kb_buf_done(&pub);
	kb_buf_done(&sec);
	return r;
}

static const char *md_for(const char *alg)
{
	if (strcmp(alg, "rsa-sha2-512") == 0)
		return "SHA512";
	if (strcmp(alg, "rsa-sha2-256") == 0)
		return "SHA256";
	if (strcmp(alg, "ssh-rsa") == 0)
		return "SHA1";
	return NULL;
}

int kb_rsa__sign(const struct kb_key *k, const uint8_t *data, size_t len, const char *alg,
		 struct kb_buf *out)
{
	uint8_t sig[MAX_BYTES];
	size_t siglen = sizeof(sig), modlen = (k->bits + 7) / 8, save = out->len;
	const char *md;
	int r;

	if (alg == NULL)
		alg = "rsa-sha2-512";
	if ((md = md_for(alg)) == NULL)
		return kb_err_set(KB_ERR_UNSUPPORTED, "unknown RSA signature algorithm '%.64s'", alg);
	if ((r = kb_pkey__sign(k->pkey, md, data, len, sig, &siglen)) != KB_OK)
		return r;
	if (siglen > modlen)
		return KB_ERR_INTERNAL;
	/* Left-pad to the modulus size as OpenSSH does. */
	if (siglen < modlen) {
		memmove(sig + (modlen - siglen), sig, siglen);
		memset(sig, 0, modlen - siglen);
	}
	if ((r = kb_buf_put_cstring(out, alg)) != KB_OK || (r = kb_buf_put_string(out, sig, modlen)) != KB_OK)
		out->len = save;
	return r;
}

int kb_rsa__verify(const struct kb_key *k, const char *alg, struct kb_buf *sig, const uint8_t *data,
		   size_t len)
{
	uint8_t padded[MAX_BYTES];
	size_t modlen = (k->bits + 7) / 8, n = kb_buf_remaining(sig);
	const char *md = md_for(alg);

	if (md == NULL)
		return kb_err_set(KB_ERR_SIGNATURE, "'%.64s' is not an RSA signature", alg);
	if (n > modlen || n == 0)
		return kb_err_set(KB_ERR_SIGNATURE, "RSA signature of %zu bytes for a %zu-byte modulus", n, modlen);
	memset(padded, 0, modlen - n);
	memcpy(padded + (modlen - n), kb_buf_ptr(sig), n);
	return kb_pkey__verify(k->pkey, md, padded, modlen, data, len);
}
