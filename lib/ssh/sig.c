/* Signing and verification in SSH wire form. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ssh/key_priv.h"

int kb_key_sign(const struct kb_key *k, const uint8_t *data, size_t len, const char *alg,
		struct kb_buf *sig_out)
{
	if (k->sec == NULL)
		return kb_err_set(KB_ERR_INVALID, "not a private key");
	if (k->type != KB_KEY_RSA && alg != NULL && strcmp(alg, kb_key_type_ssh_name(k->type)) != 0)
		return kb_err_set(KB_ERR_UNSUPPORTED, "algorithm '%.64s' does not match a %s key", alg,
				  kb_key_type_ssh_name(k->type));
	switch (k->type) {
	case KB_KEY_ED25519:
		return kb_ed25519__sign(k, data, len, sig_out);
	case KB_KEY_ECDSA_P256:
	case KB_KEY_ECDSA_P384:
	case KB_KEY_ECDSA_P521:
		return kb_ecdsa__sign(k, data, len, sig_out);
	case KB_KEY_RSA:
		return kb_rsa__sign(k, data, len, alg, sig_out);
	case KB_KEY_DSA:
		return kb_dsa__sign(k, data, len, sig_out);
	default:
		return KB_ERR_UNSUPPORTED;
	}
}

int kb_key_verify(const struct kb_key *k, const uint8_t *sig, size_t siglen, const uint8_t *data,
		  size_t len, const char *required_alg)
{
	struct kb_buf in, blob;
	char *alg = NULL;
	int r;

	if (siglen > KB_KEY_BLOB_MAX)
		return kb_err_set(KB_ERR_SIGNATURE, "signature too large");
	kb_buf_init_ro(&in, sig, siglen);
	if (kb_buf_get_cstring(&in, &alg) != KB_OK || kb_buf_get_sub(&in, &blob) != KB_OK ||
	    kb_buf_expect_end(&in) != KB_OK) {
		r = kb_err_set(KB_ERR_SIGNATURE, "malformed signature");
		goto out;
	}
	if (required_alg != NULL && strcmp(alg, required_alg) != 0) {
		r = kb_err_set(KB_ERR_SIGNATURE, "signature algorithm '%.64s' where '%.64s' is required", alg,
			       required_alg);
		goto out;
	}
	if (k->type != KB_KEY_RSA && strcmp(alg, kb_key_type_ssh_name(k->type)) != 0) {
		r = kb_err_set(KB_ERR_SIGNATURE, "'%.64s' signature for a %s key", alg,
			       kb_key_type_ssh_name(k->type));
		goto out;
	}
	switch (k->type) {
	case KB_KEY_ED25519:
		r = kb_ed25519__verify(k, &blob, data, len);
		break;
	case KB_KEY_ECDSA_P256:
	case KB_KEY_ECDSA_P384:
	case KB_KEY_ECDSA_P521:
		r = kb_ecdsa__verify(k, &blob, data, len);
		break;
	case KB_KEY_RSA:
		r = kb_rsa__verify(k, alg, &blob, data, len);
		break;
	case KB_KEY_DSA:
		r = kb_dsa__verify(k, &blob, data, len);
		break;
	default:
		r = KB_ERR_UNSUPPORTED;
		break;
	}
	/* Whatever went wrong inside, a bad signature is a bad signature. */
	if (r != KB_OK && r != KB_ERR_NOMEM)
		r = KB_ERR_SIGNATURE;
out:
	free(alg);
	return r;
}

int kb_sig_get_alg(const uint8_t *sig, size_t siglen, char **ret_alg)
{
	struct kb_buf in;
	const uint8_t *p;
	size_t n;
	int r;

	*ret_alg = NULL;
	kb_buf_init_ro(&in, sig, siglen);
	if ((r = kb_buf_get_cstring(&in, ret_alg)) != KB_OK)
		return r;
	if ((r = kb_buf_get_string_direct(&in, &p, &n)) != KB_OK || (r = kb_buf_expect_end(&in)) != KB_OK) {
		free(*ret_alg);
		*ret_alg = NULL;
	}
	return r;
}
