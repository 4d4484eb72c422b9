/* Key objects: names, lifecycle, public blobs, fingerprints and
 * authorized_keys lines.  Family-specific parts live in key_<family>.c. */
#include "ssh/key.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cert/cert.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "ssh/key_priv.h"
#include "ssh/ossl.h"

struct type_info {
	enum kb_key_type type;
	const char *name;
	const char *cert_name;
	const char *label;
	const char *cert_label;
};

static const struct type_info types[] = {
	{ KB_KEY_ED25519, "ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com", "ED25519", "ED25519-CERT" },
	{ KB_KEY_ECDSA_P256, "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256-cert-v01@openssh.com", "ECDSA",
	  "ECDSA-CERT" },
	{ KB_KEY_ECDSA_P384, "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384-cert-v01@openssh.com", "ECDSA",
	  "ECDSA-CERT" },
	{ KB_KEY_ECDSA_P521, "ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521-cert-v01@openssh.com", "ECDSA",
	  "ECDSA-CERT" },
	{ KB_KEY_RSA, "ssh-rsa", "ssh-rsa-cert-v01@openssh.com", "RSA", "RSA-CERT" },
	{ KB_KEY_DSA, "ssh-dss", "ssh-dss-cert-v01@openssh.com", "DSA", "DSA-CERT" },
};

static const struct type_info *info(enum kb_key_type t)
{
	for (size_t i = 0; i < KB_ARRAY_SIZE(types); i++)
		if (types[i].type == t)
			return &types[i];
	return NULL;
}

const char *kb_key_type_ssh_name(enum kb_key_type t)
{
	const struct type_info *ti = info(t);
	return ti ? ti->name : "unknown";
}

const char *kb_key_ssh_name(const struct kb_key *k)
{
	const struct type_info *ti = info(k->type);
	if (ti == NULL)
		return "unknown";
	return k->cert ? ti->cert_name : ti->name;
}

const char *kb_key_type_label(const struct kb_key *k)
{
	const struct type_info *ti = info(k->type);
	if (ti == NULL)
		return "UNKNOWN";
	return k->cert ? ti->cert_label : ti->label;
}

int kb_key_type_from_ssh_name(const char *name, enum kb_key_type *ret_type, bool *ret_cert)
{
	*ret_type = KB_KEY_UNSPEC;
	*ret_cert = false;
	for (size_t i = 0; i < KB_ARRAY_SIZE(types); i++) {
		if (strcmp(name, types[i].name) == 0 || strcmp(name, types[i].cert_name) == 0) {
			*ret_type = types[i].type;
			*ret_cert = strcmp(name, types[i].cert_name) == 0;
			return KB_OK;
		}
	}
	return kb_err_set(KB_ERR_UNSUPPORTED, "unknown key type '%.64s'", name);
}

int kb_key_type_from_cli(const char *name, enum kb_key_type *ret_type, unsigned *ret_bits)
{
	static const struct {
		const char *name;
		enum kb_key_type type;
		unsigned bits;
	} cli[] = {
		{ "ed25519", KB_KEY_ED25519, 0 },     { "ecdsa", KB_KEY_ECDSA_P256, 0 },
		{ "ecdsa-p256", KB_KEY_ECDSA_P256, 0 }, { "ecdsa-p384", KB_KEY_ECDSA_P384, 0 },
		{ "ecdsa-p521", KB_KEY_ECDSA_P521, 0 }, { "rsa", KB_KEY_RSA, 0 },
		{ "rsa-2048", KB_KEY_RSA, 2048 },      { "rsa-3072", KB_KEY_RSA, 3072 },
		{ "rsa-4096", KB_KEY_RSA, 4096 },      { "dsa", KB_KEY_DSA, 0 },
	};
	bool cert;

	*ret_type = KB_KEY_UNSPEC;
	*ret_bits = 0;
	for (size_t i = 0; i < KB_ARRAY_SIZE(cli); i++) {
		if (strcmp(name, cli[i].name) == 0) {
			*ret_type = cli[i].type;
			*ret_bits = cli[i].bits;
			return KB_OK;
		}
	}
	if (kb_key_type_from_ssh_name(name, ret_type, &cert) == KB_OK && !cert)
		return KB_OK;
	*ret_type = KB_KEY_UNSPEC;
	return kb_err_set(KB_ERR_UNSUPPORTED, "unknown key type '%.64s'", name);
}

struct kb_key *kb_key__new(enum kb_key_type type)
{
	struct kb_key *k = calloc(1, sizeof(*k));
	if (k != NULL)
		k->type = type;
	return k;
}

int kb_key__set_pub(struct kb_key *k, const struct kb_buf *in, size_t start)
{
	size_t n = in->off - start;
	uint8_t *p = malloc(n == 0 ? 1 : n);

	if (p == NULL)
		return KB_ERR_NOMEM;
	memcpy(p, in->data + start, n);
	free(k->pub);
	k->pub = p;
	k->pub_len = n;
	return KB_OK;
}

int kb_key__set_sec(struct kb_key *k, const uint8_t *p, size_t n)
{
	uint8_t *s = kb_secure_alloc(n == 0 ? 1 : n);

	if (s == NULL)
		return KB_ERR_NOMEM;
	memcpy(s, p, n);
	kb_secure_free(k->sec);
	k->sec = s;
	k->sec_len = n;
	return KB_OK;
}

void kb_key_free(struct kb_key *k)
{
	if (k == NULL)
		return;
	free(k->pub);
	kb_secure_free(k->sec);
	EVP_PKEY_free(k->pkey);
	kb_cert_free(k->cert);
	kb_wipe(k, sizeof(*k));
	free(k);
}

int kb_key_generate(enum kb_key_type type, unsigned bits, struct kb_key **ret)
{
	struct kb_key *k;
	int r;

	*ret = NULL;
	if ((k = kb_key__new(type)) == NULL)
		return KB_ERR_NOMEM;
	switch (type) {
	case KB_KEY_ED25519:
		r = kb_ed25519__generate(k);
		break;
	case KB_KEY_ECDSA_P256:
	case KB_KEY_ECDSA_P384:
	case KB_KEY_ECDSA_P521:
		r = kb_ecdsa__generate(k);
		break;
	case KB_KEY_RSA:
		r = kb_rsa__generate(k, bits == 0 ? 3072 : bits);
		break;
	default:
		r = kb_err_set(KB_ERR_UNSUPPORTED, "cannot generate %s keys", kb_key_type_ssh_name(type));
		break;
	}
	if (r != KB_OK) {
		kb_key_free(k);
		return r;
	}
	*ret = k;
	return KB_OK;
}

int kb_key_get_public_fields(enum kb_key_type type, struct kb_buf *in, struct kb_key **ret)
{
	size_t start = in->off;
	struct kb_key *k;
	int r;

	*ret = NULL;
	if ((k = kb_key__new(type)) == NULL)
		return KB_ERR_NOMEM;
	switch (type) {
	case KB_KEY_ED25519:
		r = kb_ed25519__get_public(in, k);
		break;
	case KB_KEY_ECDSA_P256:
	case KB_KEY_ECDSA_P384:
	case KB_KEY_ECDSA_P521:
		r = kb_ecdsa__get_public(in, k);
		break;
	case KB_KEY_RSA:
		r = kb_rsa__get_public(in, k);
		break;
	case KB_KEY_DSA:
		r = kb_dsa__get_public(in, k);
		break;
	default:
		r = KB_ERR_UNSUPPORTED;
		break;
	}
	if (r == KB_OK)
		r = kb_key__set_pub(k, in, start);
	if (r != KB_OK) {
		in->off = start;
		kb_key_free(k);
		return r;
	}
	*ret = k;
	return KB_OK;
}

int kb_key_put_public_fields(const struct kb_key *k, struct kb_buf *out)
{
	return kb_buf_put(out, k->pub, k->pub_len);
}

int kb_key_plain_blob(const struct kb_key *k, struct kb_buf *out)
{
	size_t save = out->len;
	int r;

	if ((r = kb_buf_put_cstring(out, kb_key_type_ssh_name(k->type))) != KB_OK ||
	    (r = kb_buf_put(out, k->pub, k->pub_len)) != KB_OK)
		out->len = save;
	return r;
}

int kb_key_public_blob(const struct kb_key *k, struct kb_buf *out)
{
	if (k->cert != NULL)
		return kb_cert_blob(k->cert, out);
	return kb_key_plain_blob(k, out);
}

int kb_key_from_blob(const uint8_t *blob, size_t len, struct kb_key **ret)
{
	struct kb_buf in;
	struct kb_key *k = NULL;
	struct kb_cert *c = NULL;
	enum kb_key_type type;
	char *name = NULL;
	bool is_cert;
	int r;

	*ret = NULL;
	if (len > KB_KEY_BLOB_MAX)
		return kb_err_set(KB_ERR_TOO_LARGE, "key blob of %zu bytes", len);
	kb_buf_init_ro(&in, blob, len);
	if ((r = kb_buf_get_cstring(&in, &name)) != KB_OK)
		goto out;
	if ((r = kb_key_type_from_ssh_name(name, &type, &is_cert)) != KB_OK)
		goto out;
	if (is_cert) {
		if ((r = kb_cert_parse(blob, len, &c)) != KB_OK)
			goto out;
		if ((r = kb_key_dup_public(c->key, &k)) != KB_OK)
			goto out;
		k->cert = c;
		c = NULL;
	} else {
		if ((r = kb_key_get_public_fields(type, &in, &k)) != KB_OK)
			goto out;
		if ((r = kb_buf_expect_end(&in)) != KB_OK)
			goto out;
	}
	*ret = k;
	k = NULL;
out:
	free(name);
	kb_cert_free(c);
	kb_key_free(k);
	return r;
}

enum kb_key_type kb_key_type(const struct kb_key *k)
{
	return k->type;
}

unsigned kb_key_bits(const struct kb_key *k)
{
	return k->bits;
}

unsigned kb_key_bits_for_type(enum kb_key_type t)
{
	switch (t) {
	case KB_KEY_ED25519:
	case KB_KEY_ECDSA_P256:
		return 256;
	case KB_KEY_ECDSA_P384:
		return 384;
	case KB_KEY_ECDSA_P521:
		return 521;
	case KB_KEY_DSA:
		return 1024;
	default:
		return 0;
	}
}

bool kb_key_is_private(const struct kb_key *k)
{
	return k->sec != NULL;
}

bool kb_key_is_cert(const struct kb_key *k)
{
	return k->cert != NULL;
}

const struct kb_cert *kb_key_cert(const struct kb_key *k)
{
	return k->cert;
}

bool kb_key_equal_public(const struct kb_key *a, const struct kb_key *b)
{
	return a != NULL && b != NULL && a->type == b->type && a->pub_len == b->pub_len &&
	       memcmp(a->pub, b->pub, a->pub_len) == 0;
}

int kb_key_attach_cert(struct kb_key *k, struct kb_cert *cert)
{
	if (cert == NULL || cert->key == NULL)
		return KB_ERR_INVALID;
	if (!kb_key_equal_public(k, cert->key))
		return kb_err_set(KB_ERR_INVALID, "certificate is for a different key");
	kb_cert_free(k->cert);
	k->cert = cert;
	return KB_OK;
}

void kb_key_drop_cert(struct kb_key *k)
{
	kb_cert_free(k->cert);
	k->cert = NULL;
}

int kb_key_dup_public(const struct kb_key *k, struct kb_key **ret)
{
	struct kb_buf in;
	struct kb_key *d = NULL;
	int r;

	*ret = NULL;
	kb_buf_init_ro(&in, k->pub, k->pub_len);
	if ((r = kb_key_get_public_fields(k->type, &in, &d)) != KB_OK)
		return r;
	if (k->cert != NULL && (r = kb_cert_dup(k->cert, &d->cert)) != KB_OK) {
		kb_key_free(d);
		return r;
	}
	*ret = d;
	return KB_OK;
}

int kb_key__get_secret(struct kb_key *k, struct kb_buf *in)
{
	switch (k->type) {
	case KB_KEY_ED25519:
		return kb_ed25519__get_secret(in, k);
	case KB_KEY_ECDSA_P256:
	case KB_KEY_ECDSA_P384:
	case KB_KEY_ECDSA_P521:
		return kb_ecdsa__get_secret(in, k);
	case KB_KEY_RSA:
		return kb_rsa__get_secret(in, k);
	case KB_KEY_DSA:
		return kb_dsa__get_secret(in, k);
	default:
		return KB_ERR_UNSUPPORTED;
	}
}

int kb_key_dup(const struct kb_key *k, struct kb_key **ret)
{
	struct kb_buf in;
	struct kb_key *d = NULL;
	int r;

	*ret = NULL;
	if ((r = kb_key_dup_public(k, &d)) != KB_OK)
		return r;
	if (k->sec != NULL) {
		kb_buf_init_ro(&in, k->sec, k->sec_len);
		if ((r = kb_key__get_secret(d, &in)) != KB_OK) {
			kb_key_free(d);
			return r;
		}
	}
	*ret = d;
	return KB_OK;
}

int kb_key_fingerprint(const struct kb_key *k, char *out, size_t n)
{
	uint8_t hash[crypto_hash_sha256_BYTES];
	char b64[64];
	struct kb_buf blob;
	int r;

	if (n > 0)
		out[0] = '\0';
	kb_buf_init(&blob, KB_KEY_BLOB_MAX);
	if ((r = kb_key_plain_blob(k, &blob)) != KB_OK) {
		kb_buf_done(&blob);
		return r;
	}
	crypto_hash_sha256(hash, kb_buf_ptr(&blob), kb_buf_remaining(&blob));
	kb_buf_done(&blob);
	sodium_bin2base64(b64, sizeof(b64), hash, sizeof(hash), sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	if (n < sizeof("SHA256:") + strlen(b64))
		return KB_ERR_TOO_LARGE;
	snprintf(out, n, "SHA256:%s", b64);
	return KB_OK;
}

int kb_key_format_public_line(const struct kb_key *k, const char *comment, char **ret_line)
{
	struct kb_buf blob, line;
	int r;

	*ret_line = NULL;
	if (comment != NULL && strpbrk(comment, "\r\n") != NULL)
		return kb_err_set(KB_ERR_INVALID, "comment contains a line break");
	kb_buf_init(&blob, KB_KEY_BLOB_MAX);
	kb_buf_init(&line, KB_KEY_BLOB_MAX * 2 + 4096);
	if ((r = kb_key_public_blob(k, &blob)) != KB_OK)
		goto out;
	if ((r = kb_buf_put(&line, kb_key_ssh_name(k), strlen(kb_key_ssh_name(k)))) != KB_OK ||
	    (r = kb_buf_put_u8(&line, ' ')) != KB_OK ||
	    (r = kb_buf_put_base64(&line, kb_buf_ptr(&blob), kb_buf_remaining(&blob))) != KB_OK)
		goto out;
	if (comment != NULL && comment[0] != '\0') {
		if ((r = kb_buf_put_u8(&line, ' ')) != KB_OK ||
		    (r = kb_buf_put(&line, comment, strlen(comment))) != KB_OK)
			goto out;
	}
	if ((r = kb_buf_put_u8(&line, '\0')) != KB_OK)
		goto out;
	if ((*ret_line = kb_strdup((const char *)kb_buf_ptr(&line))) == NULL)
		r = KB_ERR_NOMEM;
out:
	kb_buf_done(&blob);
	kb_buf_done(&line);
	return r;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Skips leading blanks, then returns the next blank-separated field of *pp
 * (its length in *ret_len) and leaves *pp after it. */
static const char *next_field(const char **pp, size_t *ret_len)
{
	const char *p = *pp, *start;

	while (is_space(*p))
		p++;
	start = p;
	while (*p != '\0' && !is_space(*p) && *p != '\r' && *p != '\n')
		p++;
	*ret_len = (size_t)(p - start);
	*pp = p;
	return start;
}

int kb_key_parse_public_line(const char *line, struct kb_key **ret, char **ret_comment)
{
	const char *p = line, *type, *b64, *cmt;
	size_t type_len, b64_len, cmt_len;
	struct kb_buf blob;
	struct kb_key *k = NULL;
	char *comment = NULL;
	int r;

	*ret = NULL;
	if (ret_comment != NULL)
		*ret_comment = NULL;
	type = next_field(&p, &type_len);
	b64 = next_field(&p, &b64_len);
	while (is_space(*p))
		p++;
	cmt = p;
	cmt_len = strlen(cmt);
	while (cmt_len > 0 && (cmt[cmt_len - 1] == '\n' || cmt[cmt_len - 1] == '\r' || is_space(cmt[cmt_len - 1])))
		cmt_len--;
	if (type_len == 0 || b64_len == 0)
		return kb_err_set(KB_ERR_INVALID, "not a public key line");
	if (memchr(cmt, '\n', cmt_len) != NULL || memchr(cmt, '\r', cmt_len) != NULL)
		return kb_err_set(KB_ERR_INVALID, "public key line has more than one line");
	if (b64_len > (KB_KEY_BLOB_MAX / 3 + 1) * 4)
		return kb_err_set(KB_ERR_TOO_LARGE, "public key too long");
	kb_buf_init(&blob, KB_KEY_BLOB_MAX);
	if ((r = kb_buf_put_from_base64(&blob, b64, b64_len)) != KB_OK) {
		r = kb_err_set(KB_ERR_INVALID, "bad base64 in public key");
		goto out;
	}
	if ((r = kb_key_from_blob(kb_buf_ptr(&blob), kb_buf_remaining(&blob), &k)) != KB_OK)
		goto out;
	if (strlen(kb_key_ssh_name(k)) != type_len || memcmp(kb_key_ssh_name(k), type, type_len) != 0) {
		r = kb_err_set(KB_ERR_INVALID, "key type name does not match the key");
		goto out;
	}
	if (ret_comment != NULL) {
		if ((comment = malloc(cmt_len + 1)) == NULL) {
			r = KB_ERR_NOMEM;
			goto out;
		}
		memcpy(comment, cmt, cmt_len);
		comment[cmt_len] = '\0';
		*ret_comment = comment;
	}
	*ret = k;
	k = NULL;
out:
	kb_buf_done(&blob);
	kb_key_free(k);
	return r;
}
