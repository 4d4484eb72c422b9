/* Internal to lib/ssh: the key struct and per-family helpers. */
#ifndef KB_KEY_PRIV_H
#define KB_KEY_PRIV_H

#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "core/buf.h"
#include "ssh/key.h"

#define KB_ED25519_PK 32u
#define KB_ED25519_SK 64u

struct kb_key {
	enum kb_key_type type;
	unsigned bits;
	/* Canonical public fields (what follows the type name in a plain
	 * blob); heap. */
	uint8_t *pub;
	size_t pub_len;
	uint8_t ed_pk[KB_ED25519_PK];
	/* Private half: the type's secret fields in SSH wire form, as they
	 * follow the certificate blob in a private certificate key
	 * (Ed25519: string pk, string sk; ECDSA: mpint d; RSA: mpint d,
	 * iqmp, p, q; DSA: mpint x).  libsodium guarded memory; NULL for a
	 * public key. */
	uint8_t *sec;
	size_t sec_len;
	/* OpenSSL families: the key, private when sec is set.  Read-only
	 * after creation, so concurrent signers can share it.  We hand the
	 * private numbers to OpenSSL in secure-heap BIGNUMs; OpenSSL 3.0 keeps
	 * the ECDSA scalar there, but copies RSA and DSA private numbers to
	 * its ordinary heap (BN_clear_free'd when the key is freed).  Building
	 * the EVP_PKEY per signature instead costs 30-65% of RSA signing
	 * throughput (bench/keys), so the key is cached; see SECURITY.md. */
	EVP_PKEY *pkey;
	struct kb_cert *cert;
};

struct kb_key *kb_key__new(enum kb_key_type type);
/* Sets k->pub from the bytes [start, in->off) of in. */
int kb_key__set_pub(struct kb_key *k, const struct kb_buf *in, size_t start);
/* Copies n bytes into new guarded memory as k->sec. */
int kb_key__set_sec(struct kb_key *k, const uint8_t *p, size_t n);

/* Parses the secret fields (see sec above) for k's public key. */
int kb_key__get_secret(struct kb_key *k, struct kb_buf *in);

/* Ed25519 (key_ed25519.c). */
int kb_ed25519__get_public(struct kb_buf *in, struct kb_key *k);
int kb_ed25519__generate(struct kb_key *k);
int kb_ed25519__get_secret(struct kb_buf *in, struct kb_key *k);
int kb_ed25519__sign(const struct kb_key *k, const uint8_t *data, size_t len, struct kb_buf *out);
int kb_ed25519__verify(const struct kb_key *k, struct kb_buf *sig, const uint8_t *data, size_t len);

/* OpenSSL families (key_ecdsa.c, key_rsa.c, key_dsa.c). */
int kb_ecdsa__get_public(struct kb_buf *in, struct kb_key *k);
int kb_ecdsa__generate(struct kb_key *k);
int kb_ecdsa__get_secret(struct kb_buf *in, struct kb_key *k);
int kb_ecdsa__sign(const struct kb_key *k, const uint8_t *data, size_t len, struct kb_buf *out);
int kb_ecdsa__verify(const struct kb_key *k, struct kb_buf *sig, const uint8_t *data, size_t len);

int kb_rsa__get_public(struct kb_buf *in, struct kb_key *k);
int kb_rsa__generate(struct kb_key *k, unsigned bits);
int kb_rsa__get_secret(struct kb_buf *in, struct kb_key *k);
/* The "n, e" prefix of the plain private serialisation. */
int kb_rsa__put_private_prefix(const struct kb_key *k, struct kb_buf *out);
int kb_rsa__get_private_prefix(struct kb_buf *in, struct kb_key **ret);
int kb_rsa__sign(const struct kb_key *k, const uint8_t *data, size_t len, const char *alg,
		 struct kb_buf *out);
int kb_rsa__verify(const struct kb_key *k, const char *alg, struct kb_buf *sig, const uint8_t *data,
		   size_t len);

int kb_dsa__get_public(struct kb_buf *in, struct kb_key *k);
int kb_dsa__get_secret(struct kb_buf *in, struct kb_key *k);
int kb_dsa__sign(const struct kb_key *k, const uint8_t *data, size_t len, struct kb_buf *out);
int kb_dsa__verify(const struct kb_key *k, struct kb_buf *sig, const uint8_t *data, size_t len);

/* Shared OpenSSL helpers (key_ossl.c). */
/* A BIGNUM from a big-endian magnitude; secure heap when secret. */
BIGNUM *kb_bn__from(const uint8_t *p, size_t n, bool secret);
/* Appends bn as an SSH mpint. */
int kb_bn__put_mpint(struct kb_buf *out, const BIGNUM *bn);
/* Reads an mpint of at most maxbytes magnitude bytes into a new BIGNUM. */
int kb_bn__get_mpint(struct kb_buf *in, size_t maxbytes, bool secret, BIGNUM **ret);
/* Builds an EVP_PKEY of keytype ("RSA", "EC", "DSA") from params. */
int kb_pkey__fromdata(const char *keytype, OSSL_PARAM_BLD *bld, bool private, EVP_PKEY **ret);
/* One-shot digest sign / verify with a DER/raw signature. */
int kb_pkey__sign(EVP_PKEY *pkey, const char *md, const uint8_t *data, size_t len, uint8_t *sig,
		  size_t *siglen);
int kb_pkey__verify(EVP_PKEY *pkey, const char *md, const uint8_t *sig, size_t siglen,
		    const uint8_t *data, size_t len);
/* DER SEQUENCE { INTEGER r, INTEGER s } (ECDSA and DSA) <-> r, s. */
int kb_sig__der_to_rs(const uint8_t *der, size_t len, BIGNUM **r, BIGNUM **s);
int kb_sig__rs_to_der(const BIGNUM *r, const BIGNUM *s, uint8_t **ret_der, size_t *ret_len);

#endif
