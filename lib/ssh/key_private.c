/* Private key serialisation (PROTOCOL.agent add-identity, and the body of
 * an openssh-key-v1 private section). */
#include <stdlib.h>
#include <string.h>

#include "cert/cert.h"
#include "core/err.h"
#include "ssh/key_priv.h"

int kb_key_private_serialize(const struct kb_key *k, struct kb_buf *out)
{
	size_t save = out->len;
	int r;

	if (k->sec == NULL)
		return kb_err_set(KB_ERR_INVALID, "not a private key");
	if ((r = kb_buf_put_cstring(out, kb_key_ssh_name(k))) != KB_OK)
		goto fail;
	if (k->cert != NULL) {
		struct kb_buf blob;
		kb_buf_init(&blob, KB_KEY_BLOB_MAX);
		if ((r = kb_cert_blob(k->cert, &blob)) == KB_OK)
			r = kb_buf_put_stringb(out, &blob);
		kb_buf_done(&blob);
		if (r != KB_OK)
			goto fail;
	} else if (k->type == KB_KEY_RSA) {
		if ((r = kb_rsa__put_private_prefix(k, out)) != KB_OK)
			goto fail;
	} else if (k->type != KB_KEY_ED25519) {
		/* Ed25519's secret fields repeat the public key already. */
		if ((r = kb_buf_put(out, k->pub, k->pub_len)) != KB_OK)
			goto fail;
	}
	if ((r = kb_buf_put(out, k->sec, k->sec_len)) != KB_OK)
		goto fail;
	return KB_OK;
fail:
	out->len = save;
	return r;
}

int kb_key_private_deserialize(struct kb_buf *in, struct kb_key **ret)
{
	struct kb_key *k = NULL;
	struct kb_cert *c = NULL;
	enum kb_key_type type;
	char *name = NULL;
	bool is_cert;
	size_t start = in->off;
	int r;

	*ret = NULL;
	if ((r = kb_buf_get_cstring(in, &name)) != KB_OK)
		goto out;
	if ((r = kb_key_type_from_ssh_name(name, &type, &is_cert)) != KB_OK)
		goto out;
	if (is_cert) {
		const uint8_t *blob;
		size_t bloblen;
		if ((r = kb_buf_get_string_direct(in, &blob, &bloblen)) != KB_OK)
			goto out;
		if ((r = kb_cert_parse(blob, bloblen, &c)) != KB_OK)
			goto out;
		if (c->key->type != type) {
			r = kb_err_set(KB_ERR_INVALID, "certificate type does not match the key type");
			goto out;
		}
		if ((r = kb_key_dup_public(c->key, &k)) != KB_OK)
			goto out;
		k->cert = c;
		c = NULL;
	} else if (type == KB_KEY_RSA) {
		if ((r = kb_rsa__get_private_prefix(in, &k)) != KB_OK)
			goto out;
	} else if (type == KB_KEY_ED25519) {
		/* string pk, string sk: peek at pk, the secret part re-reads it. */
		size_t save = in->off;
		if ((r = kb_key_get_public_fields(type, in, &k)) != KB_OK)
			goto out;
		in->off = save;
	} else {
		if ((r = kb_key_get_public_fields(type, in, &k)) != KB_OK)
			goto out;
	}
	if ((r = kb_key__get_secret(k, in)) != KB_OK)
		goto out;
	*ret = k;
	k = NULL;
out:
	if (r != KB_OK)
		in->off = start;
	free(name);
	kb_cert_free(c);
	kb_key_free(k);
	return r;
}
