/* Helpers shared by the OpenSSL key families (ECDSA, RSA, DSA). */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "core/err.h"
#include "core/mem.h"
#include "ssh/key_priv.h"
#include "ssh/ossl.h"

BIGNUM *kb_bn__from(const uint8_t *p, size_t n, bool secret)
{
	BIGNUM *bn;

	if (n > INT32_MAX)
		return NULL;
	if (secret)
		kb_ossl_init();
	bn = secret ? BN_secure_new() : BN_new();
	if (bn == NULL)
		return NULL;
	if (BN_bin2bn(p, (int)n, bn) == NULL) {
		BN_clear_free(bn);
		return NULL;
	}
	if (secret)
		BN_set_flags(bn, BN_FLG_CONSTTIME);
	return bn;
}

int kb_bn__put_mpint(struct kb_buf *out, const BIGNUM *bn)
{
	/* Large enough for KB_KEY_RSA_MAX_BITS. */
	uint8_t tmp[KB_KEY_RSA_MAX_BITS / 8 + 1];
	int n = BN_num_bytes(bn), r;

	if (BN_is_negative(bn) || n < 0 || (size_t)n > sizeof(tmp))
		return KB_ERR_INTERNAL;
	BN_bn2bin(bn, tmp);
	r = kb_buf_put_mpint(out, tmp, (size_t)n);
	kb_wipe(tmp, (size_t)n);
	return r;
}

int kb_bn__get_mpint(struct kb_buf *in, size_t maxbytes, bool secret, BIGNUM **ret)
{
	const uint8_t *p;
	size_t n, save = in->off;
	int r;

	*ret = NULL;
	if ((r = kb_buf_get_mpint_direct(in, &p, &n)) != KB_OK)
		return r;
	if (n > maxbytes) {
		in->off = save;
		return kb_err_set(KB_ERR_INVALID, "integer of %zu bytes is too large", n);
	}
	if ((*ret = kb_bn__from(p, n, secret)) == NULL) {
		in->off = save;
		return KB_ERR_NOMEM;
	}
	return KB_OK;
}

int kb_pkey__fromdata(const char *keytype, OSSL_PARAM_BLD *bld, bool private, EVP_PKEY **ret)
{
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	int r = KB_OK;

	*ret = NULL;
	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL) {
		r = kb_ossl_err("OSSL_PARAM_BLD_to_param");
		goto out;
	}
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, keytype, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1) {
		r = kb_ossl_err("EVP_PKEY_fromdata_init");
		goto out;
	}
	if (EVP_PKEY_fromdata(ctx, ret, private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1) {
		r = kb_ossl_err_as(KB_ERR_INVALID, "invalid key");
		goto out;
	}
out:
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return r;
}

int kb_pkey__sign(EVP_PKEY *pkey, const char *md, const uint8_t *data, size_t len, uint8_t *sig,
		  size_t *siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int r = KB_OK;

	if (ctx == NULL)
		return KB_ERR_NOMEM;
	if (EVP_DigestSignInit_ex(ctx, NULL, md, NULL, NULL, pkey, NULL) != 1 ||
	    EVP_DigestSign(ctx, sig, siglen, data, len) != 1)
		r = kb_ossl_err("signing failed");
	EVP_MD_CTX_free(ctx);
	return r;
}

int kb_pkey__verify(EVP_PKEY *pkey, const char *md, const uint8_t *sig, size_t siglen,
		    const uint8_t *data, size_t len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int r = KB_OK;

	if (ctx == NULL)
		return KB_ERR_NOMEM;
	if (EVP_DigestVerifyInit_ex(ctx, NULL, md, NULL, NULL, pkey, NULL) != 1)
		r = kb_ossl_err("EVP_DigestVerifyInit");
	else if (EVP_DigestVerify(ctx, sig, siglen, data, len) != 1)
		r = kb_ossl_err_as(KB_ERR_SIGNATURE, "signature verification failed");
	EVP_MD_CTX_free(ctx);
	return r;
}

int kb_sig__der_to_rs(const uint8_t *der, size_t len, BIGNUM **r, BIGNUM **s)
{
	const unsigned char *p = der;
	const BIGNUM *r0, *s0;
	ECDSA_SIG *es;

	*r = *s = NULL;
	if (len > INT32_MAX || (es = d2i_ECDSA_SIG(NULL, &p, (long)len)) == NULL)
		return kb_ossl_err("cannot decode signature");
	ECDSA_SIG_get0(es, &r0, &s0);
	*r = BN_dup(r0);
	*s = BN_dup(s0);
	ECDSA_SIG_free(es);
	if (*r == NULL || *s == NULL) {
		BN_free(*r);
		BN_free(*s);
		*r = *s = NULL;
		return KB_ERR_NOMEM;
	}
	return KB_OK;
}

int kb_sig__rs_to_der(const BIGNUM *r, const BIGNUM *s, uint8_t **ret_der, size_t *ret_len)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r1 = BN_dup(r), *s1 = BN_dup(s);
	unsigned char *der = NULL;
	int n;

	*ret_der = NULL;
	*ret_len = 0;
	if (es == NULL || r1 == NULL || s1 == NULL || ECDSA_SIG_set0(es, r1, s1) != 1) {
		ECDSA_SIG_free(es);
		BN_free(r1);
		BN_free(s1);
		return KB_ERR_NOMEM;
	}
	n = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	if (n <= 0)
		return kb_ossl_err("i2d_ECDSA_SIG");
	*ret_der = der;
	*ret_len = (size_t)n;
	return KB_OK;
}
