/* Revocation records in the backend and KRL building (see revoke.h). */
#include "revoke.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "cert/cert.h"
#include "cert/krl.h"
#include "core/mem.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/util.h"
#include "store/store.h"

#define MAX_TRIES 20

static json_t *new_doc(void)
{
	return json_pack("{s:s,s:I,s:[]}", "kind", KB_REVOCATIONS_KIND, "krl_version", (json_int_t)0, "entries");
}

int kb_revocations_parse(const char *text, size_t len, json_t **ret_doc)
{
	json_t *doc;

	*ret_doc = NULL;
	if (len > KB_STORE_VALUE_MAX)
		return kb_err_set(KB_ERR_TOO_LARGE, "%s is larger than %u bytes", KB_REVOCATIONS_SECRET,
				  KB_STORE_VALUE_MAX);
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *kind = json_object_get(doc, "kind"), *entries = json_object_get(doc, "entries");
	json_t *kv = json_object_get(doc, "krl_version");
	if (!json_is_object(doc) || !json_is_string(kind) || strcmp(json_string_value(kind), KB_REVOCATIONS_KIND) != 0 ||
	    !json_is_array(entries) || json_array_size(entries) > KB_REVOKE_MAX_ENTRIES ||
	    (kv != NULL && (!json_is_integer(kv) || json_integer_value(kv) < 0))) {
		json_decref(doc);
		return kb_err_set(KB_ERR_INVALID, "%s is not a %s document", KB_REVOCATIONS_SECRET,
				  KB_REVOCATIONS_KIND);
	}
	*ret_doc = doc;
	return KB_OK;
}

int kb_revocations_load(struct kb_store *s, json_t **ret_doc, char **ret_version)
{
	struct kb_buf val;
	char *ver = NULL;
	json_t *doc;
	int r;

	*ret_doc = NULL;
	*ret_version = NULL;
	kb_buf_init(&val, KB_STORE_VALUE_MAX);
	r = kb_store_get(s, KB_REVOCATIONS_SECRET, NULL, &val, &ver);
	if (r == KB_ERR_NOT_FOUND) {
		kb_buf_done(&val);
		if ((*ret_doc = new_doc()) == NULL)
			return KB_ERR_NOMEM;
		return KB_OK;
	}
	if (r != KB_OK) {
		kb_buf_done(&val);
		return r;
	}
	r = kb_revocations_parse((const char *)val.data, val.len, &doc);
	kb_buf_done(&val);
	if (r != KB_OK) {
		free(ver);
		return r;
	}
	*ret_doc = doc;
	*ret_version = ver;
	return KB_OK;
}

/* The token of the version that replaces `base` (NULL: the first one). */
static void cas_token(const char *base, const char *value, size_t len, char out[65])
{
	uint8_t h[32];
	crypto_generichash_state st;
	crypto_generichash_init(&st, (const uint8_t *)"keybroker-revocations", 21, sizeof(h));
	crypto_generichash_update(&st, (const uint8_t *)(base ? base : ""), base ? strlen(base) + 1 : 0);
	/* Two writers on the same base with the same document are one write. */
	crypto_generichash_update(&st, (const uint8_t *)value, len);
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2hex(out, 65, h, 16);
	(void)out;
}

/* Writes doc as the successor of version base.  KB_ERR_CONFLICT when
 * someone else wrote first. */
static int store_doc(struct kb_store *s, const char *base, json_t *doc)
{
	char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	char token[65];
	struct kb_store_put_opts o = { .stage = KB_STAGE_CURRENT, .description = "keybroker revocations" };
	char *ver = NULL, *cur = NULL;
	struct kb_buf val;
	int r;

	if (text == NULL)
		return KB_ERR_NOMEM;
	/* The token only binds to the base: a second writer from the same base
	 * with another document is refused (KB_ERR_CONFLICT). */
	cas_token(base, "", 0, token);
	o.token = token;
	r = kb_store_put(s, KB_REVOCATIONS_SECRET, (const uint8_t *)text, strlen(text), &o, &ver);
	if (r == KB_OK) {
		/* A backend that ignores tokens for changed values: check that
		 * the current version is ours. */
		kb_buf_init(&val, KB_STORE_VALUE_MAX);
		r = kb_store_get(s, KB_REVOCATIONS_SECRET, NULL, &val, &cur);
		if (r == KB_OK && (val.len != strlen(text) || memcmp(val.data, text, val.len) != 0))
			r = KB_ERR_CONFLICT;
		kb_buf_done(&val);
	}
	free(ver);
	free(cur);
	kb_json_free_string(text);
	return r;
}

static json_t *rev_entry(const struct kb_revocation *rev)
{
	json_t *e = json_object();
	char *line = NULL, fp[KB_KEY_FP_MAX], buf[64];

	if (e == NULL)
		return NULL;
	if (rev->ca != NULL && (rev->serial != 0 || rev->key_id != NULL)) {
		if (kb_key_format_public_line(rev->ca, NULL, &line) != KB_OK)
			goto fail;
		json_object_set_new(e, "ca", json_string(line));
		free(line);
		line = NULL;
	}
	if (rev->serial != 0) {
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)rev->serial);
		json_object_set_new(e, "serial", json_string(buf));
	}
	if (rev->key_id != NULL)
		json_object_set_new(e, "key_id", json_string(rev->key_id));
	if (rev->key != NULL) {
		if (kb_key_format_public_line(rev->key, NULL, &line) != KB_OK ||
		    kb_key_fingerprint(rev->key, fp, sizeof(fp)) != KB_OK)
			goto fail;
		json_object_set_new(e, "key", json_string(line));
		json_object_set_new(e, "fingerprint", json_string(fp));
		free(line);
	}
	return e;
fail:
	free(line);
	json_decref(e);
	return NULL;
}

static bool same_field(const json_t *a, const json_t *b, const char *name)
{
	return json_equal(json_object_get(a, name), json_object_get(b, name)) ||
	       (json_object_get(a, name) == NULL && json_object_get(b, name) == NULL);
}

static bool covered(const json_t *entries, const json_t *e)
{
	size_t i;
	json_t *x;
	json_array_foreach(entries, i, x) {
		if (same_field(x, e, "ca") && same_field(x, e, "serial") && same_field(x, e, "key_id") &&
		    same_field(x, e, "key"))
			return true;
	}
	return false;
}

int kb_revocations_add(struct kb_store *s, const struct kb_revocation *rev, bool *ret_added)
{
	json_t *e = rev_entry(rev);
	char tbuf[64];
	int r = KB_ERR_CONFLICT;

	*ret_added = false;
	if (e == NULL)
		return KB_ERR_NOMEM;
	if (json_object_size(e) == 0) {
		json_decref(e);
		return kb_err_set(KB_ERR_ARGS, "nothing to revoke");
	}
	kb_format_time_utc(time(NULL), tbuf, sizeof(tbuf));
	for (int i = 0; i < MAX_TRIES && r == KB_ERR_CONFLICT; i++) {
		json_t *doc = NULL;
		char *base = NULL;
		if ((r = kb_revocations_load(s, &doc, &base)) != KB_OK)
			break;
		json_t *entries = json_object_get(doc, "entries");
		if (covered(entries, e)) {
			json_decref(doc);
			free(base);
			r = KB_OK;
			break;
		}
		if (json_array_size(entries) >= KB_REVOKE_MAX_ENTRIES) {
			json_decref(doc);
			free(base);
			r = kb_err_set(KB_ERR_LIMIT, "%s holds %u entries already", KB_REVOCATIONS_SECRET,
				       KB_REVOKE_MAX_ENTRIES);
			break;
		}
		json_t *full = json_deep_copy(e);
		json_object_set_new(full, "time", json_string(tbuf));
		if (rev->identity)
			json_object_set_new(full, "identity", json_string(rev->identity));
		if (rev->requester)
			json_object_set_new(full, "requester", json_string(rev->requester));
		if (rev->reason)
			json_object_set_new(full, "reason", json_string(rev->reason));
		json_array_append_new(entries, full);
		r = store_doc(s, base, doc);
		if (r == KB_OK)
			*ret_added = true;
		else if (r == KB_ERR_TOO_LARGE)
			r = kb_err_set(r, "%s is full (%zu entries in %u bytes); nothing was added", KB_REVOCATIONS_SECRET,
				       json_array_size(entries) - 1, KB_STORE_VALUE_MAX);
		json_decref(doc);
		free(base);
	}
	json_decref(e);
	if (r == KB_ERR_CONFLICT)
		kb_err_set(r, "%s kept changing under us; try again", KB_REVOCATIONS_SECRET);
	return r;
}

int kb_revocations_next_krl_version(struct kb_store *s, uint64_t min_version, uint64_t *ret_version)
{
	int r = KB_ERR_CONFLICT;

	for (int i = 0; i < MAX_TRIES && r == KB_ERR_CONFLICT; i++) {
		json_t *doc = NULL;
		char *base = NULL;
		if ((r = kb_revocations_load(s, &doc, &base)) != KB_OK)
			break;
		uint64_t v = (uint64_t)json_integer_value(json_object_get(doc, "krl_version"));
		if (v < min_version)
			v = min_version;
		if (v >= (uint64_t)INT64_MAX) {
			json_decref(doc);
			free(base);
			return kb_err_set(KB_ERR_LIMIT, "krl_version would overflow");
		}
		v++;
		json_object_set_new(doc, "krl_version", json_integer((json_int_t)v));
		if ((r = store_doc(s, base, doc)) == KB_OK)
			*ret_version = v;
		json_decref(doc);
		free(base);
	}
	return r;
}

static int parse_line_key(const char *line, struct kb_key **ret)
{
	char *comment = NULL;
	int r = kb_key_parse_public_line(line, ret, &comment);
	free(comment);
	return r;
}

int kb_revocations_build_krl(const json_t *doc, struct kb_krl *krl, size_t *ret_n)
{
	const json_t *entries = json_object_get(doc, "entries");
	size_t i, n = 0;
	json_t *e;
	int r = KB_OK;

	json_array_foreach(entries, i, e) {
		const char *ca_line = json_string_value(json_object_get(e, "ca"));
		const char *serial = json_string_value(json_object_get(e, "serial"));
		const char *key_id = json_string_value(json_object_get(e, "key_id"));
		const char *key_line = json_string_value(json_object_get(e, "key"));
		struct kb_key *ca = NULL, *k = NULL;
		uint64_t sn;

		if (ca_line != NULL && (r = parse_line_key(ca_line, &ca)) != KB_OK)
			return kb_err_set(r, "%s entry %zu: bad CA key", KB_REVOCATIONS_SECRET, i + 1);
		if (serial != NULL) {
			if (ca == NULL || kb_parse_u64(serial, UINT64_MAX, &sn) != KB_OK || sn == 0)
				r = kb_err_set(KB_ERR_INVALID, "%s entry %zu: bad serial", KB_REVOCATIONS_SECRET, i + 1);
			else
				r = kb_krl_revoke_serial_range(krl, ca, sn, sn);
		}
		if (r == KB_OK && key_id != NULL)
			r = kb_krl_revoke_key_id(krl, ca, key_id);
		if (r == KB_OK && key_line != NULL) {
			if ((r = parse_line_key(key_line, &k)) == KB_OK)
				r = kb_krl_revoke_key(krl, k);
		}
		kb_key_free(ca);
		kb_key_free(k);
		if (r != KB_OK)
			return r;
		n++;
	}
	if (ret_n)
		*ret_n = n;
	return KB_OK;
}

bool kb_revocation_matches(const struct kb_revocation *rev, const struct kb_key *k)
{
	const struct kb_cert *c = kb_key_cert(k);

	if (rev->key != NULL && kb_key_equal_public(rev->key, k))
		return true;
	if (c == NULL)
		return false;
	if (rev->key != NULL && c->key != NULL && kb_key_equal_public(rev->key, c->key))
		return true;
	if (rev->ca != NULL && c->ca_key != NULL && !kb_key_equal_public(rev->ca, c->ca_key))
		return false;
	if (rev->serial != 0 && c->serial == rev->serial)
		return true;
	if (rev->key_id != NULL && c->key_id != NULL && strcmp(rev->key_id, c->key_id) == 0)
		return true;
	return false;
}
