/* Static credentials (see static_cred.h). */
#include "static_cred.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "issue/issue.h"

bool kb_static_name_valid(const char *s)
{
	return kb_issue_identity_valid(s);
}

void kb_static_cred_free(struct kb_static_cred *c)
{
	if (c == NULL)
		return;
	free(c->role);
	free(c->requested_by);
	free(c->created);
	kb_key_free(c->key);
	free(c->targets);
	free(c);
}

static int dup_field(json_t *j, const char *field, size_t max, bool required, char **out)
{
	json_t *v = json_object_get(j, field);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return kb_err_set(KB_ERR_INVALID, "static credential has no \"%s\"", field);
		return KB_OK;
	}
	if (!json_is_string(v) || json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v))
		return kb_err_set(KB_ERR_INVALID, "static credential field \"%s\" is not a string of at most %zu bytes",
				  field, max);
	if ((*out = kb_strdup(json_string_value(v))) == NULL)
		return KB_ERR_NOMEM;
	return KB_OK;
}

static int parse_targets(json_t *arr, struct kb_static_cred *c)
{
	size_t n = json_array_size(arr);

	if (!json_is_array(arr) || n == 0)
		return kb_err_set(KB_ERR_INVALID, "static credential has no \"targets\" (a non-empty list of user@host[:port])");
	if (n > KB_STATIC_TARGETS_MAX)
		return kb_err_set(KB_ERR_TOO_LARGE, "static credential lists %zu targets (at most %d)", n,
				  KB_STATIC_TARGETS_MAX);
	if ((c->targets = calloc(n, sizeof(*c->targets))) == NULL)
		return KB_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *t = json_array_get(arr, i);
		int r;
		if (!json_is_string(t) || json_string_length(t) > KB_STATIC_TARGET_LEN_MAX ||
		    strlen(json_string_value(t)) != json_string_length(t))
			return kb_err_set(KB_ERR_INVALID, "static credential target %zu is not a user@host[:port] string",
					  i + 1);
		if ((r = kb_ssh_target_parse(json_string_value(t), &c->targets[i])) != KB_OK)
			return r;
		for (size_t k = 0; k < i; k++)
			if (strcmp(c->targets[k].user, c->targets[i].user) == 0 &&
			    strcmp(c->targets[k].host, c->targets[i].host) == 0 && c->targets[k].port == c->targets[i].port)
				return kb_err_set(KB_ERR_INVALID, "static credential lists target %s twice",
						  json_string_value(t));
		c->ntargets = i + 1;
	}
	return KB_OK;
}

int kb_static_cred_parse(const char *json, size_t len, bool need_private, struct kb_static_cred **ret)
{
	struct kb_static_cred *c = NULL;
	struct kb_key *pub = NULL;
	json_error_t jerr;
	json_t *j = NULL;
	int r;

	*ret = NULL;
	if (len > KB_STORE_VALUE_MAX)
		return kb_err_set(KB_ERR_TOO_LARGE, "credential larger than %u bytes", KB_STORE_VALUE_MAX);
	if ((j = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		return kb_err_set(KB_ERR_INVALID, "credential is not JSON: %s", jerr.text);
	json_t *kind = json_object_get(j, "kind"), *cert = json_object_get(j, "certificate");
	if (!json_is_object(j) || !json_is_string(kind) || strcmp(json_string_value(kind), KB_CREDENTIAL_KIND) != 0) {
		r = kb_err_set(KB_ERR_INVALID, "not a keybroker SSH credential");
		goto out;
	}
	if (cert != NULL && !json_is_null(cert)) {
		r = kb_err_set(KB_ERR_INVALID, "a certificate credential, not a static one (static credentials have no "
					       "certificate)");
		goto out;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	if ((r = parse_targets(json_object_get(j, "targets"), c)) != KB_OK ||
	    (r = dup_field(j, "role", 64, false, &c->role)) != KB_OK ||
	    (r = dup_field(j, "requested_by", 256, false, &c->requested_by)) != KB_OK ||
	    (r = dup_field(j, "created", 64, false, &c->created)) != KB_OK)
		goto out;
	json_t *pl = json_object_get(j, "public_key"), *pk = json_object_get(j, "private_key");
	if (!json_is_string(pl) || json_string_length(pl) > 2 * KB_KEY_BLOB_MAX ||
	    strlen(json_string_value(pl)) != json_string_length(pl)) {
		r = kb_err_set(KB_ERR_INVALID, "static credential has no readable \"public_key\"");
		goto out;
	}
	if ((r = kb_key_parse_public_line(json_string_value(pl), &pub, NULL)) != KB_OK)
		goto out;
	if (kb_key_is_cert(pub)) {
		r = kb_err_set(KB_ERR_INVALID, "static credential's public_key is a certificate");
		goto out;
	}
	if (need_private) {
		if (!json_is_string(pk) || json_string_length(pk) > KB_KEY_PRIVATE_FILE_MAX) {
			r = kb_err_set(KB_ERR_INVALID, "static credential has no readable \"private_key\"");
			goto out;
		}
		if ((r = kb_key_parse_private_file(json_string_value(pk), json_string_length(pk), NULL, &c->key,
						   NULL)) != KB_OK)
			goto out;
		if (!kb_key_equal_public(c->key, pub)) {
			r = kb_err_set(KB_ERR_INVALID, "static credential's public_key does not match its private_key");
			goto out;
		}
	} else {
		c->key = pub;
		pub = NULL;
	}
	if ((r = kb_key_fingerprint(c->key, c->fingerprint, sizeof(c->fingerprint))) != KB_OK)
		goto out;
	*ret = c;
	c = NULL;
out:
	kb_key_free(pub);
	kb_static_cred_free(c);
	json_decref(j);
	return r;
}

int kb_static_cred_build(const struct kb_static_cred *c, const char *name, struct kb_buf *out)
{
	struct kb_buf priv;
	char *pub = NULL, *json = NULL;
	json_t *j = NULL, *targets = NULL;
	int r;

	kb_buf_init_secure(&priv, KB_KEY_PRIVATE_FILE_MAX);
	if ((r = kb_key_write_private_file(c->key, name, &priv)) != KB_OK || (r = kb_buf_put_u8(&priv, 0)) != KB_OK ||
	    (r = kb_key_format_public_line(c->key, name, &pub)) != KB_OK)
		goto out;
	if ((j = json_object()) == NULL || (targets = json_array()) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < c->ntargets; i++) {
		char t[KB_STATIC_TARGET_LEN_MAX + 1];
		kb_ssh_target_format(&c->targets[i], t, sizeof(t));
		json_array_append_new(targets, json_string(t));
	}
	json_object_set_new(j, "kind", json_string(KB_CREDENTIAL_KIND));
	json_object_set_new(j, "key_type", json_string(kb_key_type_ssh_name(kb_key_type(c->key))));
	json_object_set_new(j, "private_key", json_string((const char *)kb_buf_ptr(&priv)));
	json_object_set_new(j, "public_key", json_string(pub));
	json_object_set_new(j, "fingerprint", json_string(c->fingerprint));
	json_object_set_new(j, "key_id", json_string(name));
	if (c->role)
		json_object_set_new(j, "role", json_string(c->role));
	if (c->requested_by)
		json_object_set_new(j, "requested_by", json_string(c->requested_by));
	if (c->created)
		json_object_set_new(j, "created", json_string(c->created));
	json_object_set_new(j, "targets", targets);
	targets = NULL;
	if ((json = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	r = kb_buf_put(out, json, strlen(json));
out:
	kb_json_free_string(json);
	json_decref(targets);
	json_decref(j);
	free(pub);
	kb_buf_done(&priv);
	return r;
}

int kb_static_cred_new(const char *key_type, const char *role, const char *requested_by,
		       const struct kb_ssh_target *targets, size_t ntargets, struct kb_static_cred **ret)
{
	struct kb_static_cred *c;
	enum kb_key_type kt;
	unsigned bits;
	char now[32];
	int r;

	*ret = NULL;
	if (ntargets == 0 || ntargets > KB_STATIC_TARGETS_MAX)
		return kb_err_set(KB_ERR_ARGS, "a static credential needs 1 to %d targets", KB_STATIC_TARGETS_MAX);
	if ((r = kb_key_type_from_cli(key_type ? key_type : "ed25519", &kt, &bits)) != KB_OK)
		return kb_err_set(r, "unknown key type '%s' (ed25519, ecdsa-p256, ecdsa-p384, ecdsa-p521, rsa-2048, "
				     "rsa-3072, rsa-4096)",
				  key_type);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return KB_ERR_NOMEM;
	kb_format_time_utc((int64_t)time(NULL), now, sizeof(now));
	c->role = kb_strdup(role);
	c->requested_by = kb_strdup(requested_by ? requested_by : "?");
	c->created = kb_strdup(now);
	c->targets = calloc(ntargets, sizeof(*c->targets));
	if (!c->role || !c->requested_by || !c->created || !c->targets) {
		kb_static_cred_free(c);
		return KB_ERR_NOMEM;
	}
	memcpy(c->targets, targets, ntargets * sizeof(*targets));
	c->ntargets = ntargets;
	if ((r = kb_key_generate(kt, bits, &c->key)) != KB_OK ||
	    (r = kb_key_fingerprint(c->key, c->fingerprint, sizeof(c->fingerprint))) != KB_OK) {
		kb_static_cred_free(c);
		return r;
	}
	*ret = c;
	return KB_OK;
}

int kb_static_get(struct kb_store *s, const char *name, const struct kb_store_sel *sel, bool need_private,
		  struct kb_static_cred **ret, char **ret_version)
{
	struct kb_buf val;
	char *version = NULL;
	int r;

	*ret = NULL;
	if (ret_version)
		*ret_version = NULL;
	kb_buf_init_secure(&val, KB_STORE_VALUE_MAX);
	if ((r = kb_store_get(s, name, sel, &val, &version)) != KB_OK)
		goto out;
	if ((r = kb_static_cred_parse((const char *)kb_buf_ptr(&val), kb_buf_remaining(&val), need_private, ret)) !=
	    KB_OK) {
		char detail[400];
		kb_strlcpy(detail, kb_err_detail(), sizeof(detail));
		r = kb_err_set(r, "%s (%s): %s", name, kb_stage_name(sel->stage ? sel->stage : KB_STAGE_CURRENT),
			       detail);
		goto out;
	}
	if (ret_version) {
		*ret_version = version;
		version = NULL;
	}
out:
	free(version);
	kb_buf_done(&val);
	return r;
}

/* Cheap check on a stored value: a credential without certificate and
 * with targets. */
static bool is_static(struct kb_store *s, const char *name)
{
	struct kb_static_cred *c = NULL;
	struct kb_store_sel sel = { .stage = KB_STAGE_CURRENT };
	bool ok = kb_static_get(s, name, &sel, false, &c, NULL) == KB_OK;
	kb_static_cred_free(c);
	kb_err_clear_detail();
	return ok;
}

int kb_static_list(struct kb_store *s, const char *prefix, char ***ret_names, size_t *ret_n)
{
	char **names = NULL;
	size_t n = 0, k = 0;
	int r;

	*ret_names = NULL;
	*ret_n = 0;
	if ((r = kb_store_list(s, prefix, &names, &n)) != KB_OK) {
		if (r == KB_ERR_NOT_FOUND)
			return KB_OK;
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		/* Only keybroker/<role>/<name>, and never the CA or the
		 * revocation record. */
		const char *rest = strncmp(names[i], "keybroker/", 10) == 0 ? names[i] + 10 : NULL;
		const char *slash = rest ? strchr(rest, '/') : NULL;
		bool keep = slash != NULL && strchr(slash + 1, '/') == NULL && strncmp(rest, "ca/", 3) != 0 &&
			    is_static(s, names[i]);
		if (keep)
			names[k++] = names[i];
		else
			free(names[i]);
	}
	if (k == 0) {
		free(names);
		return KB_OK;
	}
	*ret_names = names;
	*ret_n = k;
	return KB_OK;
}

int kb_static_resolve(struct kb_store *s, const char *arg, const char *role, char **ret_name)
{
	char **names = NULL;
	size_t n = 0;
	char *name = NULL;
	int r;

	*ret_name = NULL;
	if (strncmp(arg, "keybroker/", 10) == 0)
		name = kb_strdup(arg);
	else if (strchr(arg, '/') != NULL)
		name = kb_asprintf("keybroker/%s", arg);
	else if (role != NULL)
		name = kb_asprintf("keybroker/%s/%s", role, arg);
	if (name != NULL) {
		if (!kb_store_name_valid(name)) {
			free(name);
			return kb_err_set(KB_ERR_ARGS, "'%s' is not a valid credential name", arg);
		}
		*ret_name = name;
		return KB_OK;
	}
	if (!kb_static_name_valid(arg))
		return kb_err_set(KB_ERR_ARGS, "'%s' is not a valid credential name (1-64 of A-Z a-z 0-9 _ . @ -)", arg);
	if ((r = kb_static_list(s, "keybroker/", &names, &n)) != KB_OK)
		return r;
	size_t found = 0, at = 0, alen = strlen(arg);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(names[i]);
		if (len > alen + 1 && names[i][len - alen - 1] == '/' && strcmp(names[i] + len - alen, arg) == 0) {
			found++;
			at = i;
		}
	}
	if (found == 1) {
		*ret_name = names[at];
		names[at] = NULL;
		r = KB_OK;
	} else if (found == 0) {
		r = kb_err_set(KB_ERR_NOT_FOUND, "no static credential named '%s' (see 'broker static list')", arg);
	} else {
		r = kb_err_set(KB_ERR_ARGS, "%zu static credentials are named '%s': give ROLE/%s or --role", found, arg,
			       arg);
	}
	kb_store_names_free(names, n);
	return r;
}
