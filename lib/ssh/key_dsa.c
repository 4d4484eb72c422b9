/* ssh-dss (DSA, FIPS 186-2 1024/160): parse, sign and verify only, for
 * OpenSSH's agent test-suite.  No generation. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/err.h"
#include "core/mem.h"
#include "ssh/key_priv.h"
#include "ssh/ossl.h"

#define P_BYTES 128
#define Q_BYTES 20

static int get_pqgy(const uint8_t *pub, size_t publen, BIGNUM **p, BIGNUM **q, BIGNUM **g, BIGNUM **y)
{
	struct kb_buf in;
	int r;

	kb_buf_init_ro(&in, pub, publen);
	if ((r = kb_bn__get_mpint(&in, P_BYTES, false, p)) != KB_OK ||
	    (r = kb_bn__get_mpint(&in, Q_BYTES, false, q)) != KB_OK ||
	    (r = kb_bn__get_mpint(&in, P_BYTES, false, g)) != KB_OK ||
	    (r = kb_bn__get_mpint(&in, P_BYTES, false, y)) != KB_OK)
		return r;
	return kb_buf_remaining(&in) == 0 ? KB_OK : KB_ERR_INTERNAL;
}

static int build(const BIGNUM *p, const BIGNUM *q, const BIGNUM *g, const BIGNUM *y, const BIGNUM *x,
		 EVP_PKEY **ret)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	int r;

	if (bld == NULL)
		return KB_ERR_NOMEM;
	if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_P, p) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_Q, q) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_G, g) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PUB_KEY, y) != 1 ||
	    (x != NULL && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, x) != 1))
		r = kb_ossl_err("OSSL_PARAM_BLD");
	else
		r = kb_pkey__fromdata("DSA", bld, x != NULL, ret);
	OSSL_PARAM_BLD_free(bld);
	return r;
}

int kb_dsa__get_public(struct kb_buf *in, struct kb_key *k)
{
	BIGNUM *p = NULL, *q = NULL, *g = NULL, *y = NULL;
	size_t start = in->off;
	int r;

	if ((r = kb_bn__get_mpint(in, P_BYTES, false, &p)) != KB_OK ||
	    (r = kb_bn__get_mpint(in, Q_BYTES, false, &q)) != KB_OK ||
	    (r = kb_bn__get_mpint(in, P_BYTES, false, &g)) != KB_OK ||
	    (r = kb_bn__get_mpint(in, P_BYTES, false, &y)) != KB_OK)
		goto out;
	if (BN_num_bits(p) != 1024 || BN_num_bits(q) != 160 || BN_cmp(g, p) >= 0 || BN_cmp(y, p) >= 0 ||
	    BN_is_zero(g) || BN_is_one(g) || BN_is_zero(y) || BN_is_one(y)) {
		r = kb_err_set(KB_ERR_INVALID, "invalid DSA public key (only 1024-bit ssh-dss keys)");
		goto out;
	}
	if ((r = build(p, q, g, y, NULL, &k->pkey)) != KB_OK)
		goto out;
	k->bits = 1024;
out:
	if (r != KB_OK)
		in->off = start;
	BN_free(p);
	BN_free(q);
	BN_free(g);
	BN_free(y);
	return r;
}

int kb_dsa__get_secret(struct kb_buf *in, struct kb_key *k)
{
	BIGNUM *p = NULL, *q = NULL, *g = NULL, *y = NULL, *x = NULL, *t = NULL;
	BN_CTX *bnctx = NULL;
	EVP_PKEY *pkey = NULL;
	size_t start = in->off;
	int r;

	if ((r = get_pqgy(k->pub, k->pub_len, &p, &q, &g, &y)) != KB_OK) {
		r = KB_ERR_INTERNAL;
		goto out;
	}
	if ((r = kb_bn__get_mpint(in, Q_BYTES, true, &x)) != KB_OK)
		goto out;
	r = KB_ERR_NOMEM;
	if ((bnctx = BN_CTX_secure_new()) == NULL || (t = BN_new()) == NULL)
		goto out;
	/* y = g^x mod p, 0 < x < q. */
	if (BN_is_zero(x) || BN_cmp(x, q) >= 0 || BN_mod_exp(t, g, x, p, bnctx) != 1 || BN_cmp(t, y) != 0) {
		r = kb_err_set(KB_ERR_INVALID, "DSA private key does not match its public key");
		goto out;
	}
	if ((r = build(p, q, g, y, x, &pkey)) != KB_OK)
		goto out;
	if ((r = kb_key__set_sec(k, in->data + start, in->off - start)) != KB_OK)
		goto out;
	EVP_PKEY_free(k->pkey);
	k->pkey = pkey;
	pkey = NULL;
out:
	if (r != KB_OK)
		in->off = start;
	EVP_PKEY_free(pkey);
	BN_CTX_free(bnctx);
	BN_free(p);
	BN_free(q);
	BN_free(g);
	BN_free(y);
	BN_clear_free(x);
	BN_free(t);
	return r;
}

int kb_dsa__sign(const struct kb_key *k, const uint8_t *data, size_t len, struct kb_buf *out)
{
	uint8_t der[64], raw[2 * Q_BYTES];
	size_t derlen = sizeof(der), save = out->len;
	BIGNUM *rr = NULL, *ss = NULL;
	int r;

	if ((r = kb_pkey__sign(k->pkey, "SHA1", data, len, der, &derlen)) != KB_OK ||
	    (r = kb_sig__der_to_rs(der, derlen, &rr, &ss)) != KB_OK)
		goto out;
	if (BN_bn2binpad(rr, raw, Q_BYTES) != Q_BYTES || BN_bn2binpad(ss, raw + Q_BYTES, Q_BYTES) != Q_BYTES) {
		r = KB_ERR_INTERNAL;
		goto out;
	}
	if ((r = kb_buf_put_cstring(out, "ssh-dss")) != KB_OK || (r = kb_buf_put_string(out, raw, sizeof(raw))) != KB_OK)
		out->len = save;
out:
	BN_free(rr);
	BN_free(ss);
	return r;
}

int kb_dsa__verify(const struct kb_key *k, struct kb_buf *sig, const uint8_t *data, size_t len)
{
	BIGNUM *rr = NULL, *ss = NULL;
	uint8_t *der = NULL;
	size_t derlen;
	int r;

	if (kb_buf_remaining(sig) != 2 * Q_BYTES)
		return kb_err_set(KB_ERR_SIGNATURE, "DSA signature of %zu bytes", kb_buf_remaining(sig));
	rr = kb_bn__from(kb_buf_ptr(sig), Q_BYTES, false);
	ss = kb_bn__from(kb_buf_ptr(sig) + Q_BYTES, Q_BYTES, false);
	if (rr == NULL || ss == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	if ((r = kb_sig__rs_to_der(rr, ss, &der, &derlen)) != KB_OK)
		goto out;
	r = kb_pkey__verify(k->pkey, "SHA1", der, derlen, data, len);
out:
	OPENSSL_free(der);
	BN_free(rr);
	BN_free(ss);
	return r;
}
