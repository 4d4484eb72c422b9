/* Parsing, copying and freeing OpenSSH certificates (PROTOCOL.certkeys).
 * Building and signing are in the cert area's other files. */
#include "cert/cert.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"

#define NONCE_MAX 32u

static void free_options(struct kb_cert_option *o, size_t n)
{
	if (o == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(o[i].name);
		free(o[i].data);
	}
	free(o);
}

void kb_cert_free(struct kb_cert *c)
{
	if (c == NULL)
		return;
	free(c->key_id);
	if (c->principals != NULL)
		for (size_t i = 0; i < c->nprincipals; i++)
			free(c->principals[i]);
	free(c->principals);
	free_options(c->critical, c->ncritical);
	free_options(c->extensions, c->nextensions);
	kb_key_free(c->key);
	kb_key_free(c->ca_key);
	kb_buf_done(&c->blob);
	free(c->sig_alg);
	free(c);
}

static int bad(const char *what)
{
	return kb_err_set(KB_ERR_INVALID, "corrupt certificate: %s", what);
}

static int parse_principals(struct kb_buf *in, struct kb_cert *c)
{
	struct kb_buf list;
	char *s = NULL;
	int r;

	if (kb_buf_get_sub(in, &list) != KB_OK)
		return bad("principals");
	while (kb_buf_remaining(&list) > 0) {
		if (c->nprincipals >= KB_CERT_MAX_PRINCIPALS)
			return kb_err_set(KB_ERR_LIMIT, "certificate has more than %d principals", KB_CERT_MAX_PRINCIPALS);
		if ((r = kb_buf_get_cstring(&list, &s)) != KB_OK)
			return r == KB_ERR_NOMEM ? r : bad("principal");
		char **np = realloc(c->principals, (c->nprincipals + 1) * sizeof(*np));
		if (np == NULL) {
			free(s);
			return KB_ERR_NOMEM;
		}
		c->principals = np;
		c->principals[c->nprincipals++] = s;
	}
	return KB_OK;
}

/* Options: sequence of string name, string data; names strictly
 * increasing; non-empty data is itself one string, which we unwrap. */
static int parse_options(struct kb_buf *in, struct kb_cert_option **ret, size_t *ret_n, const char *what)
{
	struct kb_buf list, data;
	struct kb_cert_option *opts = NULL;
	size_t n = 0;
	int r;

	if (kb_buf_get_sub(in, &list) != KB_OK)
		return bad(what);
	while (kb_buf_remaining(&list) > 0) {
		struct kb_cert_option o = { 0 };
		const uint8_t *p = NULL;
		size_t plen = 0;

		if (n >= KB_CERT_MAX_OPTIONS) {
			r = kb_err_set(KB_ERR_LIMIT, "certificate has more than %d %s", KB_CERT_MAX_OPTIONS, what);
			goto fail;
		}
		if ((r = kb_buf_get_cstring(&list, &o.name)) != KB_OK || kb_buf_get_sub(&list, &data) != KB_OK) {
			free(o.name);
			r = r == KB_ERR_NOMEM ? r : bad(what);
			goto fail;
		}
		if (n > 0 && strcmp(opts[n - 1].name, o.name) >= 0) {
			free(o.name);
			r = bad("options not sorted or repeated");
			goto fail;
		}
		if (kb_buf_remaining(&data) > 0 &&
		    (kb_buf_get_string_direct(&data, &p, &plen) != KB_OK || kb_buf_expect_end(&data) != KB_OK)) {
			free(o.name);
			r = bad(what);
			goto fail;
		}
		if (plen > 0) {
			if ((o.data = malloc(plen)) == NULL) {
				free(o.name);
				r = KB_ERR_NOMEM;
				goto fail;
			}
			memcpy(o.data, p, plen);
			o.data_len = plen;
		}
		struct kb_cert_option *no = realloc(opts, (n + 1) * sizeof(*no));
		if (no == NULL) {
			free(o.name);
			free(o.data);
			r = KB_ERR_NOMEM;
			goto fail;
		}
		opts = no;
		opts[n++] = o;
	}
	*ret = opts;
	*ret_n = n;
	return KB_OK;
fail:
	free_options(opts, n);
	return r;
}

int kb_cert_parse(const uint8_t *blob, size_t len, struct kb_cert **ret)
{
	struct kb_buf in, reserved;
	struct kb_cert *c = NULL;
	enum kb_key_type type;
	char *name = NULL;
	const uint8_t *p;
	size_t n;
	bool is_cert;
	int r;

	*ret = NULL;
	if (len > KB_KEY_BLOB_MAX)
		return kb_err_set(KB_ERR_TOO_LARGE, "certificate of %zu bytes", len);
	kb_buf_init_ro(&in, blob, len);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return KB_ERR_NOMEM;
	kb_buf_init(&c->blob, KB_KEY_BLOB_MAX);
	if ((r = kb_buf_get_cstring(&in, &name)) != KB_OK) {
		r = r == KB_ERR_NOMEM ? r : bad("type");
		goto out;
	}
	if ((r = kb_key_type_from_ssh_name(name, &type, &is_cert)) != KB_OK)
		goto out;
	if (!is_cert) {
		r = kb_err_set(KB_ERR_INVALID, "'%.64s' is not a certificate type", name);
		goto out;
	}
	if (kb_buf_get_string_direct(&in, &p, &n) != KB_OK) {
		r = bad("nonce");
		goto out;
	}
	if (n > NONCE_MAX) {
		r = bad("nonce longer than 32 bytes");
		goto out;
	}
	memcpy(c->nonce, p, n);
	c->nonce_len = n;
	if ((r = kb_key_get_public_fields(type, &in, &c->key)) != KB_OK)
		goto out;
	if (kb_buf_get_u64(&in, &c->serial) != KB_OK || kb_buf_get_u32(&in, &c->type) != KB_OK) {
		r = bad("serial or type");
		goto out;
	}
	if (c->type != KB_CERT_TYPE_USER && c->type != KB_CERT_TYPE_HOST) {
		r = kb_err_set(KB_ERR_INVALID, "certificate type %u is neither user nor host", c->type);
		goto out;
	}
	if ((r = kb_buf_get_cstring(&in, &c->key_id)) != KB_OK) {
		r = r == KB_ERR_NOMEM ? r : bad("key id");
		goto out;
	}
	if ((r = parse_principals(&in, c)) != KB_OK)
		goto out;
	if (kb_buf_get_u64(&in, &c->valid_after) != KB_OK || kb_buf_get_u64(&in, &c->valid_before) != KB_OK) {
		r = bad("validity");
		goto out;
	}
	if ((r = parse_options(&in, &c->critical, &c->ncritical, "critical options")) != KB_OK ||
	    (r = parse_options(&in, &c->extensions, &c->nextensions, "extensions")) != KB_OK)
		goto out;
	if (kb_buf_get_sub(&in, &reserved) != KB_OK || kb_buf_get_string_direct(&in, &p, &n) != KB_OK) {
		r = bad("signature key");
		goto out;
	}
	{
		/* Refuse a certificate as CA key before parsing it (no recursion). */
		struct kb_buf ca;
		char *caname = NULL;
		enum kb_key_type catype;
		bool ca_cert = false;
		kb_buf_init_ro(&ca, p, n);
		if (kb_buf_get_cstring(&ca, &caname) == KB_OK &&
		    kb_key_type_from_ssh_name(caname, &catype, &ca_cert) == KB_OK && ca_cert) {
			free(caname);
			r = bad("the CA key is a certificate");
			goto out;
		}
		free(caname);
	}
	if ((r = kb_key_from_blob(p, n, &c->ca_key)) != KB_OK)
		goto out;
	c->signed_len = in.off;
	if (kb_buf_get_string_direct(&in, &p, &n) != KB_OK) {
		r = bad("signature");
		goto out;
	}
	if (kb_buf_expect_end(&in) != KB_OK) {
		r = kb_err_set(KB_ERR_TRAILING, "data after the certificate");
		goto out;
	}
	if ((r = kb_sig_get_alg(p, n, &c->sig_alg)) != KB_OK) {
		r = r == KB_ERR_NOMEM ? r : bad("signature");
		goto out;
	}
	if ((r = kb_buf_put(&c->blob, blob, len)) != KB_OK)
		goto out;
	*ret = c;
	c = NULL;
out:
	free(name);
	kb_cert_free(c);
	return r;
}

static int dup_options(const struct kb_cert_option *src, size_t n, struct kb_cert_option **ret)
{
	struct kb_cert_option *o;

	*ret = NULL;
	if (n == 0)
		return KB_OK;
	if ((o = calloc(n, sizeof(*o))) == NULL)
		return KB_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		if ((o[i].name = kb_strdup(src[i].name)) == NULL)
			goto fail;
		if (src[i].data_len > 0) {
			if ((o[i].data = malloc(src[i].data_len)) == NULL)
				goto fail;
			memcpy(o[i].data, src[i].data, src[i].data_len);
			o[i].data_len = src[i].data_len;
		}
	}
	*ret = o;
	return KB_OK;
fail:
	free_options(o, n);
	return KB_ERR_NOMEM;
}

int kb_cert_dup(const struct kb_cert *c, struct kb_cert **ret)
{
	struct kb_cert *d;
	int r = KB_ERR_NOMEM;

	*ret = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return KB_ERR_NOMEM;
	kb_buf_init(&d->blob, c->blob.max > 0 ? c->blob.max : KB_KEY_BLOB_MAX);
	d->type = c->type;
	d->serial = c->serial;
	d->valid_after = c->valid_after;
	d->valid_before = c->valid_before;
	memcpy(d->nonce, c->nonce, sizeof(d->nonce));
	d->nonce_len = c->nonce_len;
	d->signed_len = c->signed_len;
	if (c->key_id != NULL && (d->key_id = kb_strdup(c->key_id)) == NULL)
		goto fail;
	if (c->sig_alg != NULL && (d->sig_alg = kb_strdup(c->sig_alg)) == NULL)
		goto fail;
	if (c->nprincipals > 0) {
		if ((d->principals = calloc(c->nprincipals, sizeof(char *))) == NULL)
			goto fail;
		d->nprincipals = c->nprincipals;
		for (size_t i = 0; i < c->nprincipals; i++)
			if ((d->principals[i] = kb_strdup(c->principals[i])) == NULL)
				goto fail;
	}
	if ((r = dup_options(c->critical, c->ncritical, &d->critical)) != KB_OK)
		goto fail;
	d->ncritical = c->ncritical;
	if ((r = dup_options(c->extensions, c->nextensions, &d->extensions)) != KB_OK)
		goto fail;
	d->nextensions = c->nextensions;
	if (c->key != NULL && (r = kb_key_dup(c->key, &d->key)) != KB_OK)
		goto fail;
	if (c->ca_key != NULL && (r = kb_key_dup_public(c->ca_key, &d->ca_key)) != KB_OK)
		goto fail;
	if (c->blob.len > 0 && (r = kb_buf_put(&d->blob, c->blob.data, c->blob.len)) != KB_OK)
		goto fail;
	*ret = d;
	return KB_OK;
fail:
	kb_cert_free(d);
	return r != KB_OK ? r : KB_ERR_NOMEM;
}

int kb_cert_blob(const struct kb_cert *c, struct kb_buf *out)
{
	if (c->blob.len == 0)
		return kb_err_set(KB_ERR_INVALID, "certificate has not been signed");
	return kb_buf_put(out, c->blob.data, c->blob.len);
}
