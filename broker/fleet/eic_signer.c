/* EC2 Instance Connect signer certificate: CN, chain, OCSP staples.
 * See eic.h.  The one OpenSSL adapter of this area: every failure becomes
 * KB_ERR_SIGNATURE / KB_ERR_REVOKED / KB_ERR_INVALID with a detail. */
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/log.h"
#include "fleet/eic.h"

static int ssl_fail(int err, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[160] = "";

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return kb_err_set(err, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

static bool cn_equals(X509 *cert, const char *expected)
{
	X509_NAME *subj = X509_get_subject_name(cert);
	int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);

	if (idx < 0 || X509_NAME_get_index_by_NID(subj, NID_commonName, idx) >= 0)
		return false; /* none, or more than one */
	const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
	size_t n = (size_t)ASN1_STRING_length(s);
	return n == strlen(expected) && memcmp(ASN1_STRING_get0_data(s), expected, n) == 0;
}

static void sha1_hex(X509 *cert, char out[41])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	out[0] = '\0';
	if (X509_digest(cert, EVP_sha1(), md, &n) != 1 || n != 20)
		return;
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02X", md[i]);
}

/* Good OCSP status for cert, in a response signed by issuer (or by a
 * responder the issuer delegated to, checked against the store). */
static int check_staple(X509 *cert, X509 *issuer, X509_STORE *store, const struct kb_eic_staple *staples,
			size_t nstaples)
{
	char fp[41];
	const struct kb_eic_staple *st = NULL;
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *basic = NULL;
	OCSP_CERTID *id = NULL;
	STACK_OF(X509) *trusted = NULL;
	ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL, *revtime = NULL;
	int status = -1, reason = 0, r;

	sha1_hex(cert, fp);
	for (size_t i = 0; i < nstaples; i++)
		if (strcasecmp(staples[i].name, fp) == 0)
			st = &staples[i];
	if (st == NULL)
		return kb_err_set(KB_ERR_REVOKED, "no OCSP staple for certificate %s", fp);
	const unsigned char *p = st->der;
	if ((resp = d2i_OCSP_RESPONSE(NULL, &p, (long)st->len)) == NULL || p != st->der + st->len) {
		r = ssl_fail(KB_ERR_INVALID, "malformed OCSP staple");
		goto out;
	}
	if (OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
	    (basic = OCSP_response_get1_basic(resp)) == NULL) {
		r = kb_err_set(KB_ERR_REVOKED, "OCSP staple for %s is not a successful response", fp);
		goto out;
	}
	if ((trusted = sk_X509_new_null()) == NULL || !sk_X509_push(trusted, issuer)) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	/* As `openssl ocsp -VAfile issuer`: the issuer is trusted to sign. */
	if (OCSP_basic_verify(basic, trusted, store, OCSP_TRUSTOTHER) <= 0) {
		r = ssl_fail(KB_ERR_SIGNATURE, "OCSP staple signature");
		goto out;
	}
	if ((id = OCSP_cert_to_id(EVP_sha1(), cert, issuer)) == NULL) {
		r = ssl_fail(KB_ERR_CRYPTO, "OCSP certificate id");
		goto out;
	}
	if (OCSP_resp_find_status(basic, id, &status, &reason, &revtime, &thisupd, &nextupd) != 1) {
		r = kb_err_set(KB_ERR_REVOKED, "OCSP staple does not cover certificate %s", fp);
		goto out;
	}
	if (status != V_OCSP_CERTSTATUS_GOOD) {
		r = kb_err_set(KB_ERR_REVOKED, "certificate %s is %s", fp,
			       status == V_OCSP_CERTSTATUS_REVOKED ? "revoked" : "of unknown status");
		goto out;
	}
	if (OCSP_check_validity(thisupd, nextupd, 300, -1) != 1) {
		r = ssl_fail(KB_ERR_EXPIRED, "OCSP staple outside its validity");
		goto out;
	}
	r = KB_OK;
out:
	ERR_clear_error();
	sk_X509_free(trusted);
	OCSP_CERTID_free(id);
	OCSP_BASICRESP_free(basic);
	OCSP_RESPONSE_free(resp);
	return r;
}

/* True when cert itself is in the trust store (it needs no staple). */
static bool in_store(X509_STORE_CTX *vctx, X509 *cert)
{
	X509_OBJECT *obj = X509_STORE_CTX_get_obj_by_subject(vctx, X509_LU_X509, X509_get_subject_name(cert));
	bool found = false;

	if (obj != NULL) {
		X509 *t = X509_OBJECT_get0_X509(obj);
		found = t != NULL && X509_cmp(t, cert) == 0;
		X509_OBJECT_free(obj);
	}
	return found;
}

int kb_eic_verify_signer(const char *chain_pem, size_t len, const char *expected_cn,
			 const struct kb_eic_trust *trust, const struct kb_eic_staple *staples, size_t nstaples,
			 EVP_PKEY **ret_key)
{
	BIO *bio = NULL;
	STACK_OF(X509) *given = NULL, *path = NULL;
	X509_STORE *store = NULL;
	X509_STORE_CTX *vctx = NULL;
	X509 *cert;
	int r;

	*ret_key = NULL;
	if (len > KB_EIC_CHAIN_MAX)
		return kb_err_set(KB_ERR_TOO_LARGE, "signer chain larger than %u bytes", KB_EIC_CHAIN_MAX);
	if ((bio = BIO_new_mem_buf(chain_pem, (int)len)) == NULL || (given = sk_X509_new_null()) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(given) >= (int)KB_EIC_CHAIN_CERTS || !sk_X509_push(given, cert)) {
			X509_free(cert);
			r = kb_err_set(KB_ERR_TOO_LARGE, "signer chain longer than %u certificates", KB_EIC_CHAIN_CERTS);
			goto out;
		}
	}
	ERR_clear_error(); /* the loop ends on "no start line" */
	if (sk_X509_num(given) == 0) {
		r = kb_err_set(KB_ERR_INVALID, "no certificate in the signer chain");
		goto out;
	}
	X509 *signer = sk_X509_value(given, 0);
	if (!cn_equals(signer, expected_cn)) {
		r = kb_err_set(KB_ERR_SIGNATURE, "signer certificate is not for %s", expected_cn);
		goto out;
	}
	if ((store = X509_STORE_new()) == NULL || (vctx = X509_STORE_CTX_new()) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	if (trust->ca_file == NULL && trust->ca_path == NULL) {
		if (X509_STORE_set_default_paths(store) != 1) {
			r = ssl_fail(KB_ERR_IO, "default trust store");
			goto out;
		}
	}
	if ((trust->ca_file != NULL && X509_STORE_load_file(store, trust->ca_file) != 1) ||
	    (trust->ca_path != NULL && X509_STORE_load_path(store, trust->ca_path) != 1)) {
		r = ssl_fail(KB_ERR_IO, "cannot load the trust store");
		goto out;
	}
	STACK_OF(X509) *untrusted = sk_X509_dup(given);
	if (untrusted == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	(void)sk_X509_shift(untrusted); /* the signer itself */
	if (X509_STORE_CTX_init(vctx, store, signer, untrusted) != 1) {
		sk_X509_free(untrusted);
		r = ssl_fail(KB_ERR_CRYPTO, "X509_STORE_CTX_init");
		goto out;
	}
	X509_STORE_CTX_set_flags(vctx, X509_V_FLAG_X509_STRICT);
	int ok = X509_verify_cert(vctx);
	sk_X509_free(untrusted);
	if (ok != 1) {
		r = kb_err_set(KB_ERR_SIGNATURE, "signer chain does not verify: %s",
			       X509_verify_cert_error_string(X509_STORE_CTX_get_error(vctx)));
		ERR_clear_error();
		goto out;
	}
	if ((path = X509_STORE_CTX_get1_chain(vctx)) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	/* Every certificate below the trust anchor needs a good staple; a
	 * certificate that is itself trusted ends the walk. */
	for (int i = 0; i + 1 < sk_X509_num(path); i++) {
		X509 *c = sk_X509_value(path, i);
		if (in_store(vctx, c))
			break;
		if ((r = check_staple(c, sk_X509_value(path, i + 1), store, staples, nstaples)) != 0)
			goto out;
	}
	if ((*ret_key = X509_get_pubkey(signer)) == NULL) {
		r = ssl_fail(KB_ERR_CRYPTO, "signer public key");
		goto out;
	}
	r = KB_OK;
out:
	ERR_clear_error();
	sk_X509_pop_free(path, X509_free);
	X509_STORE_CTX_free(vctx);
	X509_STORE_free(store);
	sk_X509_pop_free(given, X509_free);
	BIO_free(bio);
	return r;
}
