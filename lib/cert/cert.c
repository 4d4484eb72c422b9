/* Building, signing and checking OpenSSH certificates (PROTOCOL.certkeys).
 * Parsing lives in cert_parse.c (ssh area); display in cert_show.c. */
#include "cert/cert.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"

#define OPTION_NAME_MAX 256
#define OPTION_VALUE_MAX 4096

static const char *const default_user_extensions[] = {
	KB_CERT_EXT_X11, KB_CERT_EXT_AGENT, KB_CERT_EXT_PORT, KB_CERT_EXT_PTY, KB_CERT_EXT_USER_RC,
};

static const char *const flag_extensions[] = {
	KB_CERT_EXT_X11,  KB_CERT_EXT_AGENT,   KB_CERT_EXT_PORT,
	KB_CERT_EXT_PTY, KB_CERT_EXT_USER_RC, KB_CERT_EXT_NO_TOUCH,
};

const char *kb_cert_type_name(const struct kb_cert *c)
{
	if (c == NULL || c->key == NULL)
		return "unknown";
	switch (kb_key_type(c->key)) {
	case KB_KEY_ED25519: return "ssh-ed25519-cert-v01@openssh.com";
	case KB_KEY_ECDSA_P256: return "ecdsa-sha2-nistp256-cert-v01@openssh.com";
	case KB_KEY_ECDSA_P384: return "ecdsa-sha2-nistp384-cert-v01@openssh.com";
	case KB_KEY_ECDSA_P521: return "ecdsa-sha2-nistp521-cert-v01@openssh.com";
	case KB_KEY_RSA: return "ssh-rsa-cert-v01@openssh.com";
	case KB_KEY_DSA: return "ssh-dss-cert-v01@openssh.com";
	default: return "unknown";
	}
}

const char *kb_cert_kind(const struct kb_cert *c)
{
	return c->type == KB_CERT_TYPE_HOST ? "host" : c->type == KB_CERT_TYPE_USER ? "user" : "unknown";
}

int kb_cert_new(uint32_t type, const struct kb_key *key, struct kb_cert **ret)
{
	struct kb_cert *c;
	int r;

	*ret = NULL;
	if (key == NULL || (type != KB_CERT_TYPE_USER && type != KB_CERT_TYPE_HOST))
		return KB_ERR_INVALID;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return KB_ERR_NOMEM;
	kb_buf_init(&c->blob, KB_KEY_BLOB_MAX);
	c->type = type;
	c->valid_after = 0;
	c->valid_before = KB_CERT_VALID_FOREVER;
	if ((c->key_id = kb_strdup("")) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	if ((r = kb_key_dup_public(key, &c->key)) != 0)
		goto out;
	kb_key_drop_cert(c->key);
	if (type == KB_CERT_TYPE_USER) {
		for (size_t i = 0; i < KB_ARRAY_SIZE(default_user_extensions); i++)
			if ((r = kb_cert_set_extension(c, default_user_extensions[i], NULL)) != 0)
				goto out;
	}
	*ret = c;
	c = NULL;
out:
	kb_cert_free(c);
	return r;
}

int kb_cert_set_key_id(struct kb_cert *c, const char *key_id)
{
	if (key_id == NULL || strlen(key_id) > KB_CERT_KEY_ID_MAX)
		return kb_err_set(KB_ERR_INVALID, "key id longer than %d bytes", KB_CERT_KEY_ID_MAX);
	if (!kb_str_printable(key_id))
		return kb_err_set(KB_ERR_INVALID, "key id contains a control character");
	char *s = kb_strdup(key_id);
	if (s == NULL)
		return KB_ERR_NOMEM;
	free(c->key_id);
	c->key_id = s;
	return KB_OK;
}

int kb_cert_add_principal(struct kb_cert *c, const char *p)
{
	size_t n = strlen(p);

	if (n == 0)
		return kb_err_set(KB_ERR_INVALID, "empty principal name");
	if (n > KB_CERT_PRINCIPAL_MAX)
		return kb_err_set(KB_ERR_INVALID, "principal longer than %d bytes", KB_CERT_PRINCIPAL_MAX);
	if (strchr(p, ',') != NULL)
		return kb_err_set(KB_ERR_INVALID, "principal \"%s\" contains a comma", p);
	if (!kb_str_printable(p))
		return kb_err_set(KB_ERR_INVALID, "principal contains a control character");
	for (size_t i = 0; i < c->nprincipals; i++)
		if (strcmp(c->principals[i], p) == 0)
			return KB_OK;
	if (c->nprincipals >= KB_CERT_MAX_PRINCIPALS)
		return kb_err_set(KB_ERR_LIMIT, "more than %d principals", KB_CERT_MAX_PRINCIPALS);
	char **np = realloc(c->principals, (c->nprincipals + 1) * sizeof(*np));
	if (np == NULL)
		return KB_ERR_NOMEM;
	c->principals = np;
	if ((np[c->nprincipals] = kb_strdup(p)) == NULL)
		return KB_ERR_NOMEM;
	c->nprincipals++;
	return KB_OK;
}

int kb_cert_add_principals(struct kb_cert *c, const char *list)
{
	const char *p = list;
	int r;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char *one = strndup(p, n);
		if (one == NULL)
			return KB_ERR_NOMEM;
		r = kb_cert_add_principal(c, one);
		free(one);
		if (r != 0)
			return r;
		if (comma == NULL)
			return KB_OK;
		p = comma + 1;
	}
}

int kb_cert_set_validity(struct kb_cert *c, uint64_t valid_after, uint64_t valid_before)
{
	if (valid_after >= valid_before)
		return kb_err_set(KB_ERR_INVALID, "empty validity interval");
	c->valid_after = valid_after;
	c->valid_before = valid_before;
	return KB_OK;
}

/* ---- options ---- */

static bool option_name_ok(const char *name)
{
	size_t n = strlen(name);
	return n > 0 && n <= OPTION_NAME_MAX && kb_str_printable(name);
}

static int set_option(struct kb_cert_option **arr, size_t *count, const char *name, const char *value)
{
	struct kb_cert_option *o = NULL;
	uint8_t *data = NULL;
	size_t data_len = 0, pos;
	int cmp = 1;

	if (!option_name_ok(name))
		return kb_err_set(KB_ERR_INVALID, "invalid option name");
	if (value != NULL && *value != '\0') {
		data_len = strlen(value);
		if (data_len > OPTION_VALUE_MAX)
			return kb_err_set(KB_ERR_INVALID, "option %s: value longer than %d bytes", name,
					  OPTION_VALUE_MAX);
		if ((data = malloc(data_len)) == NULL)
			return KB_ERR_NOMEM;
		memcpy(data, value, data_len);
	}
	for (pos = 0; pos < *count; pos++)
		if ((cmp = strcmp((*arr)[pos].name, name)) >= 0)
			break;
	if (pos < *count && cmp == 0) {
		free((*arr)[pos].data);
		(*arr)[pos].data = data;
		(*arr)[pos].data_len = data_len;
		return KB_OK;
	}
	if (*count >= KB_CERT_MAX_OPTIONS) {
		free(data);
		return kb_err_set(KB_ERR_LIMIT, "more than %d options", KB_CERT_MAX_OPTIONS);
	}
	if ((o = realloc(*arr, (*count + 1) * sizeof(*o))) == NULL) {
		free(data);
		return KB_ERR_NOMEM;
	}
	*arr = o;
	char *nm = kb_strdup(name);
	if (nm == NULL) {
		free(data);
		return KB_ERR_NOMEM;
	}
	memmove(o + pos + 1, o + pos, (*count - pos) * sizeof(*o));
	o[pos].name = nm;
	o[pos].data = data;
	o[pos].data_len = data_len;
	(*count)++;
	return KB_OK;
}

static void remove_option(struct kb_cert_option *arr, size_t *count, const char *name)
{
	for (size_t i = 0; i < *count; i++) {
		if (strcmp(arr[i].name, name) != 0)
			continue;
		free(arr[i].name);
		free(arr[i].data);
		memmove(arr + i, arr + i + 1, (*count - i - 1) * sizeof(*arr));
		(*count)--;
		return;
	}
}

static const struct kb_cert_option *find_option(const struct kb_cert_option *arr, size_t count,
						const char *name)
{
	for (size_t i = 0; i < count; i++)
		if (strcmp(arr[i].name, name) == 0)
			return &arr[i];
	return NULL;
}

int kb_cert_set_critical(struct kb_cert *c, const char *name, const char *value)
{
	int r;

	if (strcmp(name, KB_CERT_OPT_FORCE_COMMAND) == 0) {
		if (value == NULL || *value == '\0')
			return kb_err_set(KB_ERR_INVALID, "force-command needs a command");
	} else if (strcmp(name, KB_CERT_OPT_SOURCE_ADDRESS) == 0) {
		if (value == NULL || *value == '\0')
			return kb_err_set(KB_ERR_INVALID, "source-address needs an address list");
		if ((r = kb_cert_check_source_address(value)) != 0)
			return r;
	} else if (strcmp(name, KB_CERT_OPT_VERIFY_REQUIRED) == 0) {
		if (value != NULL && *value != '\0')
			return kb_err_set(KB_ERR_INVALID, "verify-required takes no value");
	}
	return set_option(&c->critical, &c->ncritical, name, value);
}

int kb_cert_set_extension(struct kb_cert *c, const char *name, const char *value)
{
	for (size_t i = 0; i < KB_ARRAY_SIZE(flag_extensions); i++)
		if (strcmp(name, flag_extensions[i]) == 0 && value != NULL && *value != '\0')
			return kb_err_set(KB_ERR_INVALID, "extension %s takes no value", name);
	return set_option(&c->extensions, &c->nextensions, name, value);
}

void kb_cert_remove_critical(struct kb_cert *c, const char *name)
{
	remove_option(c->critical, &c->ncritical, name);
}

void kb_cert_remove_extension(struct kb_cert *c, const char *name)
{
	remove_option(c->extensions, &c->nextensions, name);
}

void kb_cert_clear_options(struct kb_cert *c)
{
	while (c->ncritical > 0)
		remove_option(c->critical, &c->ncritical, c->critical[0].name);
	while (c->nextensions > 0)
		remove_option(c->extensions, &c->nextensions, c->extensions[0].name);
}

const struct kb_cert_option *kb_cert_find_critical(const struct kb_cert *c, const char *name)
{
	return find_option(c->critical, c->ncritical, name);
}

const struct kb_cert_option *kb_cert_find_extension(const struct kb_cert *c, const char *name)
{
	return find_option(c->extensions, c->nextensions, name);
}

int kb_cert_option_string(const struct kb_cert_option *o, char **ret)
{
	*ret = NULL;
	if (o->data_len == 0 || o->data == NULL)
		return kb_err_set(KB_ERR_INVALID, "option %s has no value", o->name);
	if (memchr(o->data, '\0', o->data_len) != NULL)
		return kb_err_set(KB_ERR_EMBEDDED_NUL, "option %s: value contains NUL", o->name);
	if ((*ret = strndup((const char *)o->data, o->data_len)) == NULL)
		return KB_ERR_NOMEM;
	return KB_OK;
}

/* One entry "addr[/len]": OpenSSH's addr_pton_cidr rejects host bits set
 * ("Inconsistent mask length"), so do we. */
static int check_cidr(const char *s, size_t n)
{
	char buf[INET6_ADDRSTRLEN + 8];
	uint8_t addr[16];
	uint64_t masklen;
	int af, maxlen;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (strspn(buf, "0123456789abcdefABCDEF.:/") != n)
		return -1;
	char *slash = strchr(buf, '/');
	if (slash != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1)
		af = AF_INET, maxlen = 32;
	else if (inet_pton(AF_INET6, buf, addr) == 1)
		af = AF_INET6, maxlen = 128;
	else
		return -1;
	(void)af;
	if (slash == NULL)
		return 0;
	if (kb_parse_u64(slash, (uint64_t)maxlen, &masklen) != 0)
		return -1;
	for (int bit = (int)masklen; bit < maxlen; bit++)
		if (addr[bit / 8] & (0x80 >> (bit % 8)))
			return -1;
	return 0;
}

int kb_cert_check_source_address(const char *list)
{
	const char *p = list;

	if (*list == '\0')
		return kb_err_set(KB_ERR_INVALID, "empty source-address list");
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		if (check_cidr(p, n) != 0)
			return kb_err_set(KB_ERR_INVALID, "invalid source-address entry \"%.*s\"",
					  (int)(n > 64 ? 64 : n), p);
		if (comma == NULL)
			return KB_OK;
		p = comma + 1;
	}
}

/* ---- signing and checking ---- */

static int put_options(struct kb_buf *b, const struct kb_cert_option *arr, size_t count)
{
	struct kb_buf o;
	int r = KB_OK;

	kb_buf_init(&o, KB_KEY_BLOB_MAX);
	for (size_t i = 0; i < count && r == 0; i++) {
		if ((r = kb_buf_put_cstring(&o, arr[i].name)) != 0)
			break;
		if (arr[i].data_len == 0) {
			r = kb_buf_put_string(&o, NULL, 0);
		} else if (arr[i].data_len > UINT32_MAX - 4) {
			r = KB_ERR_TOO_LARGE;
		} else if ((r = kb_buf_put_u32(&o, (uint32_t)arr[i].data_len + 4)) == 0) {
			r = kb_buf_put_string(&o, arr[i].data, arr[i].data_len);
		}
	}
	if (r == 0)
		r = kb_buf_put_stringb(b, &o);
	kb_buf_done(&o);
	return r;
}

int kb_cert_sign(struct kb_cert *c, const struct kb_key *ca, const char *alg)
{
	struct kb_buf b, sub, sig;
	struct kb_key *ca_pub = NULL;
	char *sig_alg = NULL;
	uint8_t nonce[32];
	size_t signed_len;
	int r;

	if (c == NULL || c->key == NULL || ca == NULL)
		return KB_ERR_INVALID;
	if (c->type != KB_CERT_TYPE_USER && c->type != KB_CERT_TYPE_HOST)
		return kb_err_set(KB_ERR_INVALID, "certificate type must be user or host");
	if (c->valid_after >= c->valid_before)
		return kb_err_set(KB_ERR_INVALID, "empty validity interval");
	if (!kb_key_is_private(ca))
		return kb_err_set(KB_ERR_INVALID, "the CA key has no private half");
	if (alg == NULL && kb_key_type(ca) == KB_KEY_RSA)
		alg = "rsa-sha2-512";
	randombytes_buf(nonce, sizeof(nonce));
	kb_buf_init(&b, KB_KEY_BLOB_MAX);
	kb_buf_init(&sub, KB_KEY_BLOB_MAX);
	kb_buf_init(&sig, KB_KEY_BLOB_MAX);
	if ((r = kb_buf_put_cstring(&b, kb_cert_type_name(c))) != 0 ||
	    (r = kb_buf_put_string(&b, nonce, sizeof(nonce))) != 0 ||
	    (r = kb_key_put_public_fields(c->key, &b)) != 0 || (r = kb_buf_put_u64(&b, c->serial)) != 0 ||
	    (r = kb_buf_put_u32(&b, c->type)) != 0 || (r = kb_buf_put_cstring(&b, c->key_id ? c->key_id : "")) != 0)
		goto out;
	for (size_t i = 0; i < c->nprincipals; i++)
		if ((r = kb_buf_put_cstring(&sub, c->principals[i])) != 0)
			goto out;
	if ((r = kb_buf_put_stringb(&b, &sub)) != 0 || (r = kb_buf_put_u64(&b, c->valid_after)) != 0 ||
	    (r = kb_buf_put_u64(&b, c->valid_before)) != 0 ||
	    (r = put_options(&b, c->critical, c->ncritical)) != 0 ||
	    (r = put_options(&b, c->extensions, c->nextensions)) != 0 ||
	    (r = kb_buf_put_string(&b, NULL, 0)) != 0)
		goto out;
	kb_buf_reset(&sub);
	if ((r = kb_key_plain_blob(ca, &sub)) != 0 || (r = kb_buf_put_stringb(&b, &sub)) != 0)
		goto out;
	signed_len = b.len;
	if ((r = kb_key_sign(ca, b.data, signed_len, alg, &sig)) != 0 ||
	    (r = kb_sig_get_alg(sig.data, sig.len, &sig_alg)) != 0 ||
	    (r = kb_buf_put_stringb(&b, &sig)) != 0)
		goto out;
	if ((r = kb_key_dup_public(ca, &ca_pub)) != 0)
		goto out;
	kb_key_drop_cert(ca_pub);
	/* Commit. */
	kb_buf_done(&c->blob);
	c->blob = b;
	kb_buf_init(&b, 0);
	c->signed_len = signed_len;
	free(c->sig_alg);
	c->sig_alg = sig_alg;
	sig_alg = NULL;
	kb_key_free(c->ca_key);
	c->ca_key = ca_pub;
	ca_pub = NULL;
	memcpy(c->nonce, nonce, sizeof(nonce));
	c->nonce_len = sizeof(nonce);
out:
	kb_buf_done(&b);
	kb_buf_done(&sub);
	kb_buf_done(&sig);
	kb_key_free(ca_pub);
	free(sig_alg);
	return r;
}

int kb_cert_verify(const struct kb_cert *c)
{
	struct kb_buf rest;
	const uint8_t *sig;
	size_t siglen;
	int r;

	if (c == NULL || c->key == NULL || c->ca_key == NULL || c->blob.data == NULL ||
	    c->signed_len == 0 || c->signed_len > c->blob.len)
		return kb_err_set(KB_ERR_INVALID, "certificate is not signed");
	if (kb_key_is_cert(c->ca_key))
		return kb_err_set(KB_ERR_INVALID, "the signing CA key is itself a certificate");
	if (c->type != KB_CERT_TYPE_USER && c->type != KB_CERT_TYPE_HOST)
		return kb_err_set(KB_ERR_INVALID, "certificate type %u is neither user nor host", c->type);
	kb_buf_init_ro(&rest, c->blob.data + c->signed_len, c->blob.len - c->signed_len);
	if ((r = kb_buf_get_string_direct(&rest, &sig, &siglen)) != 0 || (r = kb_buf_expect_end(&rest)) != 0)
		return kb_err_set(KB_ERR_INVALID, "certificate signature is malformed");
	r = kb_key_verify(c->ca_key, sig, siglen, c->blob.data, c->signed_len, c->sig_alg);
	if (r == KB_ERR_SIGNATURE)
		return kb_err_set(r, "the CA signature on the certificate does not verify");
	return r;
}

int kb_cert_check_time(const struct kb_cert *c, uint64_t now)
{
	if (now < c->valid_after)
		return kb_err_set(KB_ERR_EXPIRED, "certificate is not yet valid");
	if (now >= c->valid_before)
		return kb_err_set(KB_ERR_EXPIRED, "certificate has expired");
	return KB_OK;
}

int kb_cert_check_principal(const struct kb_cert *c, const char *name, bool allow_empty)
{
	if (c->nprincipals == 0) {
		if (allow_empty)
			return KB_OK;
		return kb_err_set(KB_ERR_DENIED, "certificate lists no principals");
	}
	for (size_t i = 0; i < c->nprincipals; i++)
		if (strcmp(c->principals[i], name) == 0)
			return KB_OK;
	return kb_err_set(KB_ERR_DENIED, "principal \"%s\" is not in the certificate", name);
}

int kb_cert_format_line(const struct kb_cert *c, const char *comment, char **ret_line)
{
	struct kb_buf b;
	int r;

	*ret_line = NULL;
	if (c->blob.data == NULL || c->blob.len == 0)
		return kb_err_set(KB_ERR_INVALID, "certificate is not signed");
	kb_buf_init(&b, 4 * KB_KEY_BLOB_MAX);
	if ((r = kb_buf_put(&b, kb_cert_type_name(c), strlen(kb_cert_type_name(c)))) != 0 ||
	    (r = kb_buf_put_u8(&b, ' ')) != 0 || (r = kb_buf_put_base64(&b, c->blob.data, c->blob.len)) != 0)
		goto out;
	if (comment != NULL && *comment != '\0') {
		if ((r = kb_buf_put_u8(&b, ' ')) != 0 || (r = kb_buf_put(&b, comment, strlen(comment))) != 0)
			goto out;
	}
	if ((r = kb_buf_put_u8(&b, '\0')) != 0)
		goto out;
	if ((*ret_line = kb_strdup((const char *)b.data)) == NULL)
		r = KB_ERR_NOMEM;
out:
	kb_buf_done(&b);
	return r;
}
