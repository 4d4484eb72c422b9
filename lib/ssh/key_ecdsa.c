/* ecdsa-sha2-nistp256/384/521 keys and signatures (OpenSSL EVP). */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/err.h"
#include "core/mem.h"
#include "ssh/key_priv.h"
#include "ssh/ossl.h"

struct curve {
	enum kb_key_type type;
	const char *ssh_id;   /* "nistp256" */
	const char *group;    /* OpenSSL group name */
	const char *md;
	size_t field;         /* bytes per coordinate / scalar */
	unsigned bits;
};

static const struct curve curves[] = {
	{ KB_KEY_ECDSA_P256, "nistp256", "prime256v1", "SHA256", 32, 256 },
	{ KB_KEY_ECDSA_P384, "nistp384", "secp384r1", "SHA384", 48, 384 },
	{ KB_KEY_ECDSA_P521, "nistp521", "secp521r1", "SHA512", 66, 521 },
};

static const struct curve *curve_of(enum kb_key_type t)
{
	for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (curves[i].type == t)
			return &curves[i];
	return NULL;
}

/* The curve id and point from k->pub. */
static int pub_point(const struct kb_key *k, const uint8_t **q, size_t *qlen)
{
	struct kb_buf in;
	const uint8_t *id;
	size_t idlen;

	kb_buf_init_ro(&in, k->pub, k->pub_len);
	if (kb_buf_get_string_direct(&in, &id, &idlen) != KB_OK ||
	    kb_buf_get_string_direct(&in, q, qlen) != KB_OK)
		return KB_ERR_INTERNAL;
	return KB_OK;
}

static int build(const struct curve *c, const uint8_t *q, size_t qlen, const BIGNUM *d, EVP_PKEY **ret)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	int r;

	*ret = NULL;
	if (bld == NULL)
		return KB_ERR_NOMEM;
	if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, c->group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, q, qlen) != 1 ||
	    (d != NULL && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1)) {
		OSSL_PARAM_BLD_free(bld);
		return kb_ossl_err("OSSL_PARAM_BLD");
	}
	r = kb_pkey__fromdata("EC", bld, d != NULL, ret);
	OSSL_PARAM_BLD_free(bld);
	if (r != KB_OK)
		return r;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, *ret, NULL);
	if (ctx == NULL) {
		r = kb_ossl_err("EVP_PKEY_CTX_new_from_pkey");
	} else if (d == NULL) {
		if (EVP_PKEY_public_check_quick(ctx) != 1)
			r = kb_ossl_err_as(KB_ERR_INVALID, "ECDSA public key not on the curve");
	} else if (EVP_PKEY_private_check(ctx) != 1 || EVP_PKEY_pairwise_check(ctx) != 1) {
		r = kb_ossl_err_as(KB_ERR_INVALID, "ECDSA private key does not match its public key");
	}
	EVP_PKEY_CTX_free(ctx);
	if (r != KB_OK) {
		EVP_PKEY_free(*ret);
		*ret = NULL;
	}
	return r;
}

int kb_ecdsa__get_public(struct kb_buf *in, struct kb_key *k)
{
	const struct curve *c = curve_of(k->type);
	const uint8_t *id, *q;
	size_t idlen, qlen, start = in->off;
	int r;

	if (c == NULL)
		return KB_ERR_INTERNAL;
	if ((r = kb_buf_get_string_direct(in, &id, &idlen)) != KB_OK ||
	    (r = kb_buf_get_string_direct(in, &q, &qlen)) != KB_OK)
		goto fail;
	if (idlen != strlen(c->ssh_id) || memcmp(id, c->ssh_id, idlen) != 0) {
		r = kb_err_set(KB_ERR_INVALID, "ECDSA curve does not match the key type");
		goto fail;
	}
	if (qlen != 1 + 2 * c->field || q[0] != 0x04) {
		r = kb_err_set(KB_ERR_INVALID, "ECDSA public point is not an uncompressed %s point", c->ssh_id);
		goto fail;
	}
	if ((r = build(c, q, qlen, NULL, &k->pkey)) != KB_OK)
		goto fail;
	k->bits = c->bits;
	return KB_OK;
fail:
	in->off = start;
	return r;
}

int kb_ecdsa__get_secret(struct kb_buf *in, struct kb_key *k)
{
	const struct curve *c = curve_of(k->type);
	const uint8_t *q;
	size_t qlen, start = in->off;
	BIGNUM *d = NULL;
	EVP_PKEY *pkey = NULL;
	int r;

	if (c == NULL || (r = pub_point(k, &q, &qlen)) != KB_OK)
		return KB_ERR_INTERNAL;
	if ((r = kb_bn__get_mpint(in, c->field, true, &d)) != KB_OK)
		goto fail;
	if ((r = build(c, q, qlen, d, &pkey)) != KB_OK)
		goto fail;
	if ((r = kb_key__set_sec(k, in->data + start, in->off - start)) != KB_OK)
		goto fail;
	BN_clear_free(d);
	EVP_PKEY_free(k->pkey);
	k->pkey = pkey;
	return KB_OK;
fail:
	BN_clear_free(d);
	EVP_PKEY_free(pkey);
	in->off = start;
	return r;
}

int kb_ecdsa__generate(struct kb_key *k)
{
	const struct curve *c = curve_of(k->type);
	uint8_t q[1 + 2 * 66];
	size_t qlen = 0;
	EVP_PKEY *gen = NULL;
	BIGNUM *d = NULL;
	struct kb_buf pub, sec;
	int r;

	if (c == NULL)
		return KB_ERR_INTERNAL;
	kb_ossl_init();
	kb_buf_init(&pub, 512);
	kb_buf_init_secure(&sec, 512);
	if ((gen = EVP_PKEY_Q_keygen(NULL, NULL, "EC", c->group)) == NULL) {
		r = kb_ossl_err("ECDSA key generation");
		goto out;
	}
	if ((d = BN_secure_new()) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	if (EVP_PKEY_set_utf8_string_param(gen, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "uncompressed") != 1 ||
	    EVP_PKEY_get_octet_string_param(gen, OSSL_PKEY_PARAM_PUB_KEY, q, sizeof(q), &qlen) != 1 ||
	    EVP_PKEY_get_bn_param(gen, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1) {
		r = kb_ossl_err("ECDSA key export");
		goto out;
	}
	if ((r = kb_buf_put_cstring(&pub, c->ssh_id)) != KB_OK || (r = kb_buf_put_string(&pub, q, qlen)) != KB_OK ||
	    (r = kb_bn__put_mpint(&sec, d)) != KB_OK)
		goto out;
	if ((r = kb_ecdsa__get_public(&pub, k)) != KB_OK || (r = kb_key__set_pub(k, &pub, 0)) != KB_OK ||
	    (r = kb_ecdsa__get_secret(&sec, k)) != KB_OK)
		goto out;
out:
	BN_clear_free(d);
	EVP_PKEY_free(gen);
	kb_buf_done(&pub);
	kb_buf_done(&sec);
	return r;
}

int kb_ecdsa__sign(const struct kb_key *k, const uint8_t *data, size_t len, struct kb_buf *out)
{
	const struct curve *c = curve_of(k->type);
	uint8_t der[160];
	size_t derlen = sizeof(der), save = out->len;
	BIGNUM *rr = NULL, *ss = NULL;
	struct kb_buf inner;
	int r;

	if (c == NULL)
		return KB_ERR_INTERNAL;
	kb_buf_init(&inner, 300);
	if ((r = kb_pkey__sign(k->pkey, c->md, data, len, der, &derlen)) != KB_OK ||
	    (r = kb_sig__der_to_rs(der, derlen, &rr, &ss)) != KB_OK)
		goto out;
	if ((r = kb_bn__put_mpint(&inner, rr)) != KB_OK || (r = kb_bn__put_mpint(&inner, ss)) != KB_OK ||
	    (r = kb_buf_put_cstring(out, kb_key_type_ssh_name(k->type))) != KB_OK ||
	    (r = kb_buf_put_stringb(out, &inner)) != KB_OK)
		out->len = save;
out:
	BN_free(rr);
	BN_free(ss);
	kb_buf_done(&inner);
	return r;
}

int kb_ecdsa__verify(const struct kb_key *k, struct kb_buf *sig, const uint8_t *data, size_t len)
{
	const struct curve *c = curve_of(k->type);
	BIGNUM *rr = NULL, *ss = NULL;
	uint8_t *der = NULL;
	size_t derlen;
	int r;

	if (c == NULL)
		return KB_ERR_INTERNAL;
	if ((r = kb_bn__get_mpint(sig, c->field, false, &rr)) != KB_OK ||
	    (r = kb_bn__get_mpint(sig, c->field, false, &ss)) != KB_OK ||
	    (r = kb_buf_expect_end(sig)) != KB_OK) {
		r = kb_err_set(KB_ERR_SIGNATURE, "malformed ECDSA signature");
		goto out;
	}
	if ((r = kb_sig__rs_to_der(rr, ss, &der, &derlen)) != KB_OK)
		goto out;
	r = kb_pkey__verify(k->pkey, c->md, der, derlen, data, len);
out:
	OPENSSL_free(der);
	BN_free(rr);
	BN_free(ss);
	return r;
}
