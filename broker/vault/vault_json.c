/* Vault JSON: one jansson adapter for every response the backend reads. */
#include "vault/vault_json.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"

static int load(const uint8_t *p, size_t n, size_t max, json_t **ret)
{
	json_error_t jerr;

	*ret = NULL;
	if (n > max)
		return kb_err_set(KB_ERR_TOO_LARGE, "Vault response of %zu bytes is over the %zu byte limit", n, max);
	*ret = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
	if (*ret == NULL)
		return kb_err_set(KB_ERR_INVALID, "Vault response is not JSON (line %d: %.80s)", jerr.line, jerr.text);
	if (!json_is_object(*ret)) {
		json_decref(*ret);
		*ret = NULL;
		return kb_err_set(KB_ERR_INVALID, "Vault response is not a JSON object");
	}
	return KB_OK;
}

static int bad(const char *what)
{
	return kb_err_set(KB_ERR_INVALID, "unexpected Vault response: %s", what);
}

/* A positive integer below 2^53 (what Vault's JSON numbers carry). */
static int get_version(const json_t *v, uint64_t *ret)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) >= KB_VAULT_VERSION_LIMIT)
		return KB_ERR_INVALID;
	*ret = (uint64_t)json_integer_value(v);
	return KB_OK;
}

/* Optional RFC 3339 time; "" or null or absent means 0. */
static int get_time(const json_t *obj, const char *key, int64_t *ret)
{
	const json_t *v = json_object_get(obj, key);

	*ret = 0;
	if (v == NULL || json_is_null(v))
		return KB_OK;
	if (!json_is_string(v))
		return KB_ERR_INVALID;
	if (json_string_length(v) == 0)
		return KB_OK;
	if (json_string_length(v) > 64)
		return KB_ERR_INVALID;
	return kb_parse_time_utc(json_string_value(v), ret) == KB_OK ? KB_OK : KB_ERR_INVALID;
}

static int get_bool(const json_t *obj, const char *key, bool *ret)
{
	const json_t *v = json_object_get(obj, key);

	*ret = false;
	if (v == NULL || json_is_null(v))
		return KB_OK;
	if (!json_is_boolean(v))
		return KB_ERR_INVALID;
	*ret = json_is_true(v);
	return KB_OK;
}

int kb_vault_parse_errors(const uint8_t *p, size_t n, char *out, size_t outn)
{
	json_t *root = NULL;
	int r;

	if (outn == 0)
		return KB_ERR_INVALID;
	out[0] = '\0';
	if ((r = load(p, n, KB_VAULT_SMALL_JSON_MAX, &root)) != KB_OK)
		return r;
	const json_t *errs = json_object_get(root, "errors");
	if (!json_is_array(errs)) {
		json_decref(root);
		return KB_ERR_INVALID;
	}
	const json_t *first = json_array_get(errs, 0);
	if (json_is_string(first)) {
		/* Vault wraps errors as "1 error occurred:\n\t* msg\n\n": keep
		 * the message, fold control characters into spaces. */
		const char *s = json_string_value(first);
		size_t len = json_string_length(first), o = 0;
		const char *star = strstr(s, "\t* ");
		if (star != NULL) {
			len -= (size_t)(star + 3 - s);
			s = star + 3;
		}
		for (size_t i = 0; i < len && o + 1 < outn; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c < 0x20 || c == 0x7f) {
				if (o > 0 && out[o - 1] != ' ')
					out[o++] = ' ';
				continue;
			}
			out[o++] = (char)c;
		}
		while (o > 0 && out[o - 1] == ' ')
			o--;
		out[o] = '\0';
	}
	json_decref(root);
	return KB_OK;
}

void kb_vault_auth_done(struct kb_vault_auth *a)
{
	if (a == NULL)
		return;
	if (a->token != NULL)
		kb_secure_free(a->token);
	memset(a, 0, sizeof(*a));
}

static bool token_chars_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f)
			return false;
	}
	return n > 0;
}

int kb_vault_parse_auth(const uint8_t *p, size_t n, struct kb_vault_auth *ret)
{
	json_t *root = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	if ((r = load(p, n, KB_VAULT_SMALL_JSON_MAX, &root)) != KB_OK)
		return r;
	const json_t *auth = json_object_get(root, "auth");
	const json_t *tok = json_object_get(auth, "client_token");
	const json_t *lease = json_object_get(auth, "lease_duration");
	if (!json_is_object(auth)) {
		r = bad("no \"auth\" object");
		goto out;
	}
	if (!json_is_string(tok) || json_string_length(tok) > KB_VAULT_TOKEN_MAX ||
	    !token_chars_ok(json_string_value(tok), json_string_length(tok))) {
		r = bad("auth.client_token missing or malformed");
		goto out;
	}
	if (!json_is_integer(lease) || json_integer_value(lease) < 0 ||
	    json_integer_value(lease) > INT64_C(10) * 365 * 86400) {
		r = bad("auth.lease_duration missing or out of range");
		goto out;
	}
	if (get_bool(auth, "renewable", &ret->renewable) != KB_OK) {
		r = bad("auth.renewable is not a boolean");
		goto out;
	}
	ret->lease_duration = (int64_t)json_integer_value(lease);
	ret->token = kb_secure_alloc(json_string_length(tok) + 1);
	if (ret->token == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	memcpy(ret->token, json_string_value(tok), json_string_length(tok) + 1);
	r = KB_OK;
out:
	json_decref(root);
	if (r != KB_OK)
		kb_vault_auth_done(ret);
	return r;
}

static bool get_seconds(const json_t *v, int64_t *ret)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT64_C(10) * 365 * 86400)
		return false;
	*ret = (int64_t)json_integer_value(v);
	return true;
}

int kb_vault_parse_lookup(const uint8_t *p, size_t n, struct kb_vault_lookup *ret)
{
	json_t *root = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	if ((r = load(p, n, KB_VAULT_SMALL_JSON_MAX, &root)) != KB_OK)
		return r;
	const json_t *data = json_object_get(root, "data");
	if (!json_is_object(data) || !get_seconds(json_object_get(data, "ttl"), &ret->ttl) ||
	    !get_seconds(json_object_get(data, "creation_ttl"), &ret->creation_ttl) ||
	    get_bool(data, "renewable", &ret->renewable) != KB_OK) {
		memset(ret, 0, sizeof(*ret));
		r = bad("lookup-self lacks data.ttl, data.creation_ttl or data.renewable");
	}
	json_decref(root);
	return r;
}

static int hex_decode32(const char *s, size_t n, uint8_t out[32])
{
	size_t bin_len = 0;

	if (n != 64 || sodium_hex2bin(out, 32, s, n, NULL, &bin_len, NULL) != 0 || bin_len != 32)
		return KB_ERR_INVALID;
	return KB_OK;
}

static int parse_state(const json_t *kb, struct kb_vault_state *st)
{
	const json_t *v, *stages, *values, *tokens;

	if (!json_is_object(kb))
		return bad("\"keybroker\" is not an object");
	v = json_object_get(kb, "format");
	if (!json_is_integer(v) || json_integer_value(v) != 1)
		return kb_err_set(KB_ERR_UNSUPPORTED, "this secret's keybroker record format is not 1: upgrade the broker");
	v = json_object_get(kb, "record");
	if (!json_is_string(v))
		return bad("keybroker.record missing");
	if (strcmp(json_string_value(v), "stages") == 0)
		st->stage_record = true;
	else if (strcmp(json_string_value(v), "value") != 0)
		return bad("keybroker.record is neither \"value\" nor \"stages\"");

	stages = json_object_get(kb, "stages");
	if (!json_is_object(stages))
		return bad("keybroker.stages missing");
	static const char *const names[] = { "current", "pending", "previous" };
	uint64_t *slots[] = { &st->current, &st->pending, &st->previous };
	for (size_t i = 0; i < 3; i++) {
		v = json_object_get(stages, names[i]);
		if (v != NULL && (get_version(v, slots[i]) != KB_OK || *slots[i] == 0))
			return bad("keybroker.stages has a bad version number");
	}
	v = json_object_get(kb, "copy_of");
	if (v != NULL && (get_version(v, &st->copy_of) != KB_OK || st->copy_of == 0))
		return bad("keybroker.copy_of is not a version number");

	values = json_object_get(kb, "values");
	if (!json_is_array(values) || json_array_size(values) > KB_VAULT_MAX_VALUES)
		return bad("keybroker.values missing or too long");
	for (size_t i = 0; i < json_array_size(values); i++) {
		uint64_t n;
		if (get_version(json_array_get(values, i), &n) != KB_OK || n == 0)
			return bad("keybroker.values has a bad version number");
		if (st->nvalues > 0 && n <= st->values[st->nvalues - 1])
			return bad("keybroker.values is not in increasing order");
		st->values[st->nvalues++] = n;
	}

	tokens = json_object_get(kb, "tokens");
	if (tokens == NULL)
		return KB_OK;
	if (!json_is_array(tokens) || json_array_size(tokens) > KB_VAULT_MAX_TOKENS)
		return bad("keybroker.tokens is not a short array");
	for (size_t i = 0; i < json_array_size(tokens); i++) {
		const json_t *t = json_array_get(tokens, i);
		const json_t *tt = json_object_get(t, "token"), *h = json_object_get(t, "sha256");
		struct kb_vault_token_ref *ref = &st->tokens[st->ntokens];
		if (!json_is_string(tt) || json_string_length(tt) == 0 ||
		    json_string_length(tt) >= sizeof(ref->token) ||
		    strlen(json_string_value(tt)) != json_string_length(tt) ||
		    get_version(json_object_get(t, "version"), &ref->version) != KB_OK ||
		    !json_is_string(h) || hex_decode32(json_string_value(h), json_string_length(h), ref->sha256) != KB_OK)
			return bad("keybroker.tokens has a malformed entry");
		memcpy(ref->token, json_string_value(tt), json_string_length(tt) + 1);
		st->ntokens++;
	}
	return KB_OK;
}

static int dump_into(const json_t *j, size_t flags, struct kb_buf *out)
{
	size_t need = json_dumpb(j, NULL, 0, flags);
	uint8_t *dst;
	int r;

	if (need == 0)
		return kb_err_set(KB_ERR_INVALID, "cannot serialise JSON");
	if ((r = kb_buf_reserve(out, need, &dst)) != KB_OK)
		return r;
	if (json_dumpb(j, (char *)dst, need, flags) != need)
		return KB_ERR_INTERNAL;
	return KB_OK;
}

void kb_vault_record_done(struct kb_vault_record *r)
{
	if (r == NULL)
		return;
	kb_buf_done(&r->value);
	kb_wipe(r, sizeof(*r));
}

int kb_vault_parse_record(const uint8_t *p, size_t n, struct kb_vault_record *ret)
{
	json_t *root = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	kb_buf_init_secure(&ret->value, 4 * KB_VAULT_JSON_MAX);
	if ((r = load(p, n, KB_VAULT_JSON_MAX, &root)) != KB_OK)
		goto out;
	const json_t *outer = json_object_get(root, "data");
	const json_t *meta = json_object_get(outer, "metadata");
	const json_t *data = json_object_get(outer, "data");
	if (!json_is_object(outer) || !json_is_object(meta)) {
		r = bad("no data.metadata object");
		goto out;
	}
	if (get_version(json_object_get(meta, "version"), &ret->version) != KB_OK || ret->version == 0) {
		r = bad("data.metadata.version is not a version number");
		goto out;
	}
	if (get_time(meta, "created_time", &ret->created) != KB_OK ||
	    get_bool(meta, "destroyed", &ret->destroyed) != KB_OK) {
		r = bad("data.metadata has a bad created_time or destroyed");
		goto out;
	}
	const json_t *del = json_object_get(meta, "deletion_time");
	if (del != NULL && !json_is_null(del) && !json_is_string(del)) {
		r = bad("data.metadata.deletion_time is not a string");
		goto out;
	}
	ret->deleted = json_is_string(del) && json_string_length(del) > 0;
	if (data == NULL || json_is_null(data)) {
		r = KB_OK; /* a deleted or destroyed version */
		goto out;
	}
	if (!json_is_object(data)) {
		r = bad("data.data is not an object");
		goto out;
	}
	ret->has_data = true;
	const json_t *kb = json_object_get(data, "keybroker");
	const json_t *val = json_object_get(data, "value");
	const json_t *b64 = json_object_get(data, "value_base64");
	if (kb != NULL) {
		ret->state.present = true;
		if ((r = parse_state(kb, &ret->state)) != KB_OK)
			goto out;
		if ((val != NULL) == (b64 != NULL)) {
			r = bad("a keybroker record needs exactly one of value and value_base64");
			goto out;
		}
	}
	if (json_is_string(val) && b64 == NULL) {
		r = kb_buf_put(&ret->value, json_string_value(val), json_string_length(val));
	} else if (json_is_string(b64) && val == NULL) {
		r = kb_buf_put_from_base64(&ret->value, json_string_value(b64), json_string_length(b64));
		if (r != KB_OK)
			r = bad("value_base64 is not base64");
	} else if (kb != NULL) {
		r = bad("the value is not a string");
	} else {
		/* Written by another Vault client: the whole map is the value. */
		r = dump_into(data, JSON_COMPACT | JSON_SORT_KEYS, &ret->value);
	}
out:
	json_decref(root);
	if (r != KB_OK)
		kb_vault_record_done(ret);
	return r;
}

int kb_vault_parse_write(const uint8_t *p, size_t n, uint64_t *ret_version)
{
	json_t *root = NULL;
	int r;

	*ret_version = 0;
	if ((r = load(p, n, KB_VAULT_SMALL_JSON_MAX, &root)) != KB_OK)
		return r;
	const json_t *data = json_object_get(root, "data");
	if (get_version(json_object_get(data, "version"), ret_version) != KB_OK || *ret_version == 0) {
		*ret_version = 0;
		r = bad("data.version is not a version number");
	}
	json_decref(root);
	return r;
}

void kb_vault_meta_done(struct kb_vault_meta *m)
{
	if (m == NULL)
		return;
	free(m->versions);
	memset(m, 0, sizeof(*m));
}

static int cmp_meta_version(const void *a, const void *b)
{
	const struct kb_vault_meta_version *x = a, *y = b;
	return x->version < y->version ? -1 : x->version > y->version;
}

int kb_vault_parse_metadata(const uint8_t *p, size_t n, struct kb_vault_meta *ret)
{
	json_t *root = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	if ((r = load(p, n, KB_VAULT_JSON_MAX, &root)) != KB_OK)
		return r;
	const json_t *data = json_object_get(root, "data");
	const json_t *vers = json_object_get(data, "versions");
	if (!json_is_object(data) || !json_is_object(vers)) {
		r = bad("no data.versions object");
		goto out;
	}
	if (get_version(json_object_get(data, "current_version"), &ret->current_version) != KB_OK ||
	    get_version(json_object_get(data, "oldest_version"), &ret->oldest_version) != KB_OK ||
	    get_time(data, "created_time", &ret->created) != KB_OK ||
	    get_time(data, "updated_time", &ret->updated) != KB_OK) {
		r = bad("data has a bad current_version, oldest_version or time");
		goto out;
	}
	if (json_object_size(vers) > 100000) {
		r = kb_err_set(KB_ERR_TOO_LARGE, "Vault lists too many versions");
		goto out;
	}
	ret->versions = calloc(json_object_size(vers) + 1, sizeof(*ret->versions));
	if (ret->versions == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	const char *key;
	const json_t *v;
	json_object_foreach((json_t *)(uintptr_t)vers, key, v)
	{
		struct kb_vault_meta_version *mv = &ret->versions[ret->nversions];
		const json_t *del = json_object_get(v, "deletion_time");
		if (!json_is_object(v) || kb_parse_u64(key, KB_VAULT_VERSION_LIMIT - 1, &mv->version) != KB_OK ||
		    mv->version == 0 || get_time(v, "created_time", &mv->created) != KB_OK ||
		    get_bool(v, "destroyed", &mv->destroyed) != KB_OK ||
		    (del != NULL && !json_is_null(del) && !json_is_string(del))) {
			r = bad("data.versions has a malformed entry");
			goto out;
		}
		mv->deleted = json_is_string(del) && json_string_length(del) > 0;
		ret->nversions++;
	}
	qsort(ret->versions, ret->nversions, sizeof(*ret->versions), cmp_meta_version);
	for (size_t i = 1; i < ret->nversions; i++)
		if (ret->versions[i].version == ret->versions[i - 1].version) {
			r = bad("data.versions repeats a version");
			goto out;
		}
	r = KB_OK;
out:
	json_decref(root);
	if (r != KB_OK)
		kb_vault_meta_done(ret);
	return r;
}

static bool list_key_ok(const char *s, size_t n)
{
	if (n == 0 || n > 512 || strlen(s) != n || s[0] == '/')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || (c == '/' && i + 1 != n))
			return false;
	}
	return strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && strcmp(s, "./") != 0 && strcmp(s, "../") != 0;
}

int kb_vault_parse_list(const uint8_t *p, size_t n, char ***ret_keys, size_t *ret_n)
{
	json_t *root = NULL;
	char **keys = NULL;
	size_t count = 0;
	int r;

	*ret_keys = NULL;
	*ret_n = 0;
	if ((r = load(p, n, KB_VAULT_JSON_MAX, &root)) != KB_OK)
		return r;
	const json_t *arr = json_object_get(json_object_get(root, "data"), "keys");
	if (!json_is_array(arr)) {
		r = bad("no data.keys array");
		goto out;
	}
	if (json_array_size(arr) > KB_VAULT_MAX_LIST) {
		r = kb_err_set(KB_ERR_TOO_LARGE, "Vault listed more than %u keys in one folder", KB_VAULT_MAX_LIST);
		goto out;
	}
	keys = calloc(json_array_size(arr) + 1, sizeof(*keys));
	if (keys == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *k = json_array_get(arr, i);
		if (!json_is_string(k) || !list_key_ok(json_string_value(k), json_string_length(k))) {
			r = bad("data.keys has a malformed key");
			goto out;
		}
		if ((keys[count] = kb_strdup(json_string_value(k))) == NULL) {
			r = KB_ERR_NOMEM;
			goto out;
		}
		count++;
	}
	*ret_keys = keys;
	*ret_n = count;
	keys = NULL;
	r = KB_OK;
out:
	if (keys != NULL) {
		for (size_t i = 0; i < count; i++)
			free(keys[i]);
		free(keys);
	}
	json_decref(root);
	return r;
}

static int set_new(json_t *obj, const char *key, json_t *v)
{
	return v != NULL && json_object_set_new(obj, key, v) == 0 ? KB_OK : KB_ERR_NOMEM;
}

static json_t *build_state(const struct kb_vault_state *st)
{
	json_t *kb = json_object(), *stages = json_object(), *values = json_array(), *tokens = json_array();
	int r = KB_OK;

	if (kb == NULL || stages == NULL || values == NULL || tokens == NULL) {
		json_decref(kb);
		json_decref(stages);
		json_decref(values);
		json_decref(tokens);
		return NULL;
	}
	if (st->current)
		r |= set_new(stages, "current", json_integer((json_int_t)st->current));
	if (st->pending)
		r |= set_new(stages, "pending", json_integer((json_int_t)st->pending));
	if (st->previous)
		r |= set_new(stages, "previous", json_integer((json_int_t)st->previous));
	for (size_t i = 0; i < st->nvalues; i++)
		r |= json_array_append_new(values, json_integer((json_int_t)st->values[i])) ? KB_ERR_NOMEM : 0;
	for (size_t i = 0; i < st->ntokens; i++) {
		char hex[65];
		json_t *t = json_object();
		sodium_bin2hex(hex, sizeof(hex), st->tokens[i].sha256, 32);
		if (t == NULL || json_array_append_new(tokens, t) != 0) {
			r = KB_ERR_NOMEM;
			continue;
		}
		r |= set_new(t, "token", json_string(st->tokens[i].token));
		r |= set_new(t, "version", json_integer((json_int_t)st->tokens[i].version));
		r |= set_new(t, "sha256", json_string(hex));
	}
	r |= set_new(kb, "format", json_integer(1));
	r |= set_new(kb, "record", json_string(st->stage_record ? "stages" : "value"));
	r |= set_new(kb, "stages", stages);
	r |= set_new(kb, "values", values);
	r |= set_new(kb, "tokens", tokens);
	if (st->copy_of)
		r |= set_new(kb, "copy_of", json_integer((json_int_t)st->copy_of));
	if (r != KB_OK) {
		json_decref(kb);
		return NULL;
	}
	return kb;
}

int kb_vault_build_write(const uint8_t *value, size_t len, const struct kb_vault_state *st,
			 uint64_t cas, struct kb_buf *out)
{
	json_t *root = json_object(), *data = json_object(), *opts = json_object();
	json_t *v = NULL, *kb;
	struct kb_buf b64;
	int r = KB_OK;

	kb_buf_init_secure(&b64, 4 * KB_VAULT_JSON_MAX);
	if (root == NULL || data == NULL || opts == NULL) {
		json_decref(data);
		json_decref(opts);
		r = KB_ERR_NOMEM;
		goto out;
	}
	json_object_set_new(root, "data", data);
	json_object_set_new(root, "options", opts);
	/* Text stays readable for other Vault clients; anything that is not
	 * UTF-8 (or holds NUL, which Vault's JSON cannot carry) is base64. */
	if (memchr(value, 0, len) == NULL)
		v = json_stringn((const char *)value, len);
	if (v != NULL) {
		r = set_new(data, "value", v);
	} else {
		if ((r = kb_buf_put_base64(&b64, value, len)) != KB_OK)
			goto out;
		r = set_new(data, "value_base64", json_stringn((const char *)kb_buf_ptr(&b64), kb_buf_remaining(&b64)));
	}
	if (r != KB_OK)
		goto out;
	if ((kb = build_state(st)) == NULL || (r = set_new(data, "keybroker", kb)) != KB_OK) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	if ((r = set_new(opts, "cas", json_integer((json_int_t)cas))) != KB_OK)
		goto out;
	r = dump_into(root, JSON_COMPACT, out);
out:
	kb_buf_done(&b64);
	json_decref(root);
	return r;
}
