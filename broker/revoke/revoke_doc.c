/* Revocation documents: the head (v1 and v2), shards, entries (see revoke.h). */
#include "revoke.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "store/store.h"

static bool shard_id_valid(const char *s)
{
	if (s == NULL || strlen(s) != KB_REVOKE_SHARD_ID_LEN)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Every element an object, at most KB_REVOKE_MAX_ENTRIES of them. */
static bool entries_valid(const json_t *entries)
{
	size_t i;
	json_t *e;
	if (!json_is_array(entries) || json_array_size(entries) > KB_REVOKE_MAX_ENTRIES)
		return false;
	json_array_foreach(entries, i, e)
		if (!json_is_object(e))
			return false;
	return true;
}

/* shards: valid ids, no repeats, at most KB_REVOKE_MAX_SHARDS. */
static bool shards_valid(const json_t *shards)
{
	size_t n = json_array_size(shards), i;
	const char **v;
	bool ok = true;
	json_t *x;

	if (!json_is_array(shards) || n > KB_REVOKE_MAX_SHARDS)
		return false;
	if (n == 0)
		return true;
	if ((v = calloc(n, sizeof(*v))) == NULL)
		return false;
	json_array_foreach(shards, i, x) {
		v[i] = json_string_value(x);
		if (!shard_id_valid(v[i]))
			ok = false;
	}
	if (ok) {
		qsort(v, n, sizeof(*v), cmp_str_ptr);
		for (i = 1; i < n && ok; i++)
			ok = strcmp(v[i - 1], v[i]) != 0;
	}
	free(v);
	return ok;
}

int kb_revocations_parse(const char *text, size_t len, json_t **ret_doc)
{
	json_t *doc;

	*ret_doc = NULL;
	if (len > KB_STORE_VALUE_MAX)
		return kb_err_set(KB_ERR_TOO_LARGE, "%s is larger than %u bytes", KB_REVOCATIONS_SECRET,
				  KB_STORE_VALUE_MAX);
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	json_t *kv = json_object_get(doc, "krl_version"), *shards = json_object_get(doc, "shards");
	bool v1 = kind != NULL && strcmp(kind, KB_REVOCATIONS_KIND) == 0;
	bool v2 = kind != NULL && strcmp(kind, KB_REVOCATIONS_KIND_V2) == 0;
	bool ok = json_is_object(doc) && (v1 || v2) && entries_valid(json_object_get(doc, "entries")) &&
		  (kv == NULL || (json_is_integer(kv) && json_integer_value(kv) >= 0));
	if (ok && v1)
		ok = shards == NULL;
	if (ok && v2)
		ok = kv != NULL && shards_valid(shards);
	if (!ok) {
		json_decref(doc);
		return kb_err_set(KB_ERR_INVALID, "%s is not a %s or %s document", KB_REVOCATIONS_SECRET,
				  KB_REVOCATIONS_KIND_V2, KB_REVOCATIONS_KIND);
	}
	if (v1) { /* read as a v2 head without shards; the next write migrates it */
		if (json_object_set_new(doc, "kind", json_string(KB_REVOCATIONS_KIND_V2)) != 0 ||
		    json_object_set_new(doc, "shards", json_array()) != 0 ||
		    (kv == NULL && json_object_set_new(doc, "krl_version", json_integer(0)) != 0)) {
			json_decref(doc);
			return KB_ERR_NOMEM;
		}
	}
	*ret_doc = doc;
	return KB_OK;
}

int kb_revocation_shard_parse(const char *text, size_t len, json_t **ret_doc)
{
	json_t *doc, *cas, *entries, *e, *x;
	size_t i;
	bool ok;

	*ret_doc = NULL;
	if (len > KB_STORE_VALUE_MAX)
		return kb_err_set(KB_ERR_TOO_LARGE, "a revocation shard is larger than %u bytes", KB_STORE_VALUE_MAX);
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	cas = json_object_get(doc, "cas");
	entries = json_object_get(doc, "entries");
	ok = json_is_object(doc) && kind != NULL && strcmp(kind, KB_REVOCATION_SHARD_KIND) == 0 && json_is_array(cas) &&
	     json_array_size(cas) <= KB_REVOKE_MAX_SHARD_CAS && entries_valid(entries);
	if (ok) {
		json_array_foreach(cas, i, x)
			if (!json_is_string(x))
				ok = false;
	}
	/* Back to the full form: "ca" is an index into cas. */
	if (ok) {
		json_array_foreach(entries, i, e) {
			json_t *ca = json_object_get(e, "ca");
			if (ca == NULL)
				continue;
			if (!json_is_integer(ca) || json_integer_value(ca) < 0 ||
			    (size_t)json_integer_value(ca) >= json_array_size(cas) ||
			    json_object_set(e, "ca", json_array_get(cas, (size_t)json_integer_value(ca))) != 0) {
				ok = false;
				break;
			}
		}
	}
	if (!ok) {
		json_decref(doc);
		return kb_err_set(KB_ERR_INVALID, "not a %s document", KB_REVOCATION_SHARD_KIND);
	}
	json_object_del(doc, "cas");
	*ret_doc = doc;
	return KB_OK;
}

int kb_revocation_shard_encode(const json_t *entries, char **ret_text, size_t *ret_len)
{
	json_t *doc = json_pack("{s:s,s:[],s:[]}", "kind", KB_REVOCATION_SHARD_KIND, "cas", "entries");
	json_t *cas = json_object_get(doc, "cas"), *out = json_object_get(doc, "entries"), *e;
	size_t i;
	int r = KB_OK;

	*ret_text = NULL;
	*ret_len = 0;
	if (doc == NULL)
		return KB_ERR_NOMEM;
	json_array_foreach(entries, i, e) {
		json_t *c = json_copy((json_t *)e);
		const char *ca = json_string_value(json_object_get(e, "ca"));
		size_t j = 0, n = json_array_size(cas);
		if (c == NULL || json_array_append_new(out, c) != 0) {
			r = KB_ERR_NOMEM;
			break;
		}
		if (ca == NULL)
			continue;
		while (j < n && strcmp(json_string_value(json_array_get(cas, j)), ca) != 0)
			j++;
		if (j == n) {
			if (n >= KB_REVOKE_MAX_SHARD_CAS) {
				r = kb_err_set(KB_ERR_LIMIT, "more than %d CAs in one revocation shard",
					       KB_REVOKE_MAX_SHARD_CAS);
				break;
			}
			json_array_append_new(cas, json_string(ca));
		}
		json_object_set_new(c, "ca", json_integer((json_int_t)j));
	}
	char *text = r == KB_OK ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (r != KB_OK)
		return r;
	if (text == NULL)
		return KB_ERR_NOMEM;
	if (strlen(text) > KB_STORE_VALUE_MAX) {
		kb_json_free_string(text);
		return kb_err_set(KB_ERR_TOO_LARGE, "revocation shard over %u bytes", KB_STORE_VALUE_MAX);
	}
	*ret_len = strlen(text);
	*ret_text = text;
	return KB_OK;
}

json_t *kb_revocation_entry(const struct kb_revocation *rev)
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
	if (rev->valid_before > 0 && (rev->serial != 0 || rev->key_id != NULL)) {
		kb_format_time_utc(rev->valid_before, buf, sizeof(buf));
		json_object_set_new(e, "valid_before", json_string(buf));
	}
	return e;
fail:
	free(line);
	json_decref(e);
	return NULL;
}

void kb_revocation_entry_digest(const json_t *e, uint8_t out[16])
{
	static const char *const fields[] = { "ca", "serial", "key_id", "key" };
	crypto_generichash_state st;

	crypto_generichash_init(&st, (const uint8_t *)"kb-revocation", 13, 16);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const json_t *v = json_object_get(e, fields[i]);
		/* tag: 0 absent, 1 string (then its bytes and a NUL), 2 other */
		uint8_t tag = v == NULL ? 0 : json_is_string(v) ? 1 : 2;
		crypto_generichash_update(&st, &tag, 1);
		if (tag == 1)
			crypto_generichash_update(&st, (const uint8_t *)json_string_value(v),
						  json_string_length(v) + 1);
	}
	crypto_generichash_final(&st, out, 16);
}

bool kb_revocation_expired(const json_t *e, int64_t now)
{
	const char *vb = json_string_value(json_object_get(e, "valid_before"));
	int64_t t;

	if (vb == NULL || json_object_get(e, "key") != NULL)
		return false;
	if (json_object_get(e, "serial") == NULL && json_object_get(e, "key_id") == NULL)
		return false;
	if (kb_parse_time_utc(vb, &t) != KB_OK)
		return false;
	return t <= now;
}
