/* Resolving what `broker revoke` revokes: stored credentials, key and
 * certificate files, the CA bundle (see revoke_targets.h). */
#include "revoke_targets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert.h"
#include "certtool/certtool_io.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/util.h"
#include "issue/ca.h"
#include "issue/issue.h"
#include "store/store.h"

void kb_rev_target_done(struct target *t)
{
	kb_key_free(t->ca);
	kb_key_free(t->key);
	free(t->key_id);
	free(t->identity);
}

static int plain_public(const struct kb_key *k, struct kb_key **ret)
{
	int r = kb_key_dup_public(k, ret);
	if (r == KB_OK)
		kb_key_drop_cert(*ret);
	return r;
}

/* The certificate's expiry for prune (0: never / unknown). */
static int64_t expiry(const struct kb_cert *c)
{
	return c->valid_before < (uint64_t)INT64_MAX ? (int64_t)c->valid_before : 0;
}

/* keybroker/<role>/<id> names matching "[ROLE/]NAME". */
int kb_rev_find_identity(struct kb_store *s, const char *name, char ***ret, size_t *ret_n)
{
	char **names = NULL, **out;
	size_t n = 0, m = 0;
	const char *slash = strchr(name, '/');
	int r;

	*ret = NULL;
	*ret_n = 0;
	char role[KB_ISSUE_IDENTITY_MAX + 1] = "";
	if (slash != NULL && (size_t)(slash - name) < sizeof(role))
		memcpy(role, name, (size_t)(slash - name));
	if (slash ? (!kb_issue_identity_valid(role) || !kb_issue_identity_valid(slash + 1) ||
		     strchr(slash + 1, '/') != NULL)
		  : !kb_issue_identity_valid(name))
		return kb_err_set(KB_ERR_ARGS, "invalid identity \"%s\" (NAME or ROLE/NAME)", name);
	if ((r = kb_store_list(s, "keybroker/", &names, &n)) != KB_OK)
		return r;
	if ((out = calloc(n + 1, sizeof(*out))) == NULL) {
		kb_store_names_free(names, n);
		return KB_ERR_NOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const char *rest = names[i] + strlen("keybroker/");
		const char *sl = strchr(rest, '/');
		if (strncmp(names[i], "keybroker/", 10) != 0 || sl == NULL || strchr(sl + 1, '/') != NULL ||
		    strncmp(rest, "ca/", 3) == 0)
			continue;
		if (slash ? strcmp(rest, name) == 0 : strcmp(sl + 1, name) == 0) {
			out[m++] = names[i];
			names[i] = NULL;
		}
	}
	kb_store_names_free(names, n);
	if (m == 0) {
		free(out);
		return kb_err_set(KB_ERR_NOT_FOUND, "no stored credential for identity \"%s\" (see 'broker store list')",
				  name);
	}
	*ret = out;
	*ret_n = m;
	return KB_OK;
}

int kb_rev_load_identity(struct kb_store *s, const char *secret, struct target *t)
{
	struct kb_buf val;
	struct kb_key *k = NULL;
	char *ver = NULL;
	int r;

	kb_buf_init_secure(&val, KB_STORE_VALUE_MAX);
	r = kb_store_get(s, secret, NULL, &val, &ver);
	free(ver);
	if (r == KB_OK)
		r = kb_credential_parse((const char *)val.data, val.len, &k);
	kb_buf_done(&val);
	if (r != KB_OK)
		return kb_err_set(r, "%s: cannot read the stored credential", secret);
	const struct kb_cert *c = kb_key_cert(k);
	r = plain_public(k, &t->key);
	if (r == KB_OK && c != NULL) {
		t->rev.serial = c->serial;
		t->rev.valid_before = expiry(c);
		if (c->serial == 0 && (t->key_id = strdup(c->key_id ? c->key_id : "")) == NULL)
			r = KB_ERR_NOMEM;
		if (r == KB_OK)
			r = kb_key_dup_public(c->ca_key, &t->ca);
	}
	kb_key_free(k);
	if (r == KB_OK && (t->identity = strdup(secret + strlen("keybroker/"))) == NULL)
		r = KB_ERR_NOMEM;
	return r;
}

struct first_line {
	struct kb_key *key;
	struct kb_cert *cert;
	int err;
};

static int take_first(void *arg, const char *line, unsigned lnum)
{
	struct first_line *f = arg;
	(void)lnum;
	f->err = ct_parse_line(line, &f->key, &f->cert, NULL);
	return 1; /* only the first key line */
}

/* A public key or certificate file.  A certificate is revoked by serial
 * (key id when the serial is 0) under its CA, as ssh-keygen -k does. */
int kb_rev_load_keyfile(const char *path, bool want_cert, struct target *t)
{
	struct first_line f = { NULL, NULL, KB_ERR_NOT_FOUND };
	char *text = NULL;
	int r;

	if ((r = ct_read_text(path, 64 * 1024, &text)) != KB_OK)
		return r;
	ct_each_line(text, take_first, &f);
	free(text);
	if (f.err == KB_ERR_NOT_FOUND)
		r = kb_err_set(KB_ERR_INVALID, "%s: no public key in the file", path);
	else if ((r = f.err) == KB_OK && f.cert == NULL && want_cert)
		r = kb_err_set(KB_ERR_INVALID, "%s is not a certificate (use --key for a plain key)", path);
	if (r == KB_OK && f.cert != NULL) {
		const struct kb_cert *c = f.cert;
		t->rev.serial = c->serial;
		t->rev.valid_before = expiry(c);
		if (c->serial == 0 && (t->key_id = strdup(c->key_id ? c->key_id : "")) == NULL)
			r = KB_ERR_NOMEM;
		if (r == KB_OK)
			r = kb_key_dup_public(c->ca_key, &t->ca);
	} else if (r == KB_OK) {
		r = plain_public(f.key, &t->key);
	}
	kb_key_free(f.key);
	kb_cert_free(f.cert);
	return r;
}

/* The CAs a --serial / --key-id revocation applies to: the --ca file, or
 * the user CA's bundle. */
int kb_rev_load_cas(struct kb_store *store, const char *cafile, struct kb_key ***ret, size_t *ret_n)
{
	struct kb_key **v = calloc(1, sizeof(*v)), *k = NULL;
	int r;

	*ret = NULL;
	*ret_n = 0;
	if (v == NULL)
		return KB_ERR_NOMEM;
	if (cafile != NULL) {
		if ((r = ct_load_public(cafile, &k, NULL)) == KB_OK && kb_key_cert(k) != NULL)
			r = kb_err_set(KB_ERR_INVALID, "%s is a certificate; --ca wants the CA's public key", cafile);
		if (r != KB_OK) {
			kb_key_free(k);
			free(v);
			return r;
		}
		v[0] = k;
	} else {
		/* Every CA sshd trusts now (current, pending, previous in its
		 * overlap): a serial of the previous CA must die too. */
		free(v);
		return kb_ca_bundle(store, false, ret, ret_n);
	}
	*ret = v;
	*ret_n = 1;
	return KB_OK;
}
