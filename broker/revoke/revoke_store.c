/* Revocation records in the backend: the head and its shards (see revoke.h
 * for the layout and why no entry is lost). */
#include "revoke.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "revoke_int.h"
#include "store/store.h"

#define MAX_TRIES 60

static json_t *new_head(void)
{
	return json_pack("{s:s,s:I,s:[],s:[]}", "kind", KB_REVOCATIONS_KIND_V2, "krl_version", (json_int_t)0, "shards",
			 "entries");
}

/* The head (v2-shaped; an empty one when the secret does not exist). */
int kb_rev_head_load(struct kb_store *s, json_t **ret_doc, char **ret_version)
{
	struct kb_buf val;
	char *ver = NULL;
	int r;

	*ret_doc = NULL;
	*ret_version = NULL;
	kb_buf_init(&val, KB_STORE_VALUE_MAX);
	r = kb_store_get(s, KB_REVOCATIONS_SECRET, NULL, &val, &ver);
	if (r == KB_ERR_NOT_FOUND) {
		kb_buf_done(&val);
		return (*ret_doc = new_head()) ? KB_OK : KB_ERR_NOMEM;
	}
	if (r == KB_OK)
		r = kb_revocations_parse((const char *)val.data, val.len, ret_doc);
	kb_buf_done(&val);
	if (r != KB_OK)
		free(ver);
	else
		*ret_version = ver;
	return r;
}

/* Is version base (NULL: none) still the current head?  A cheap look
 * before writing, so that a writer whose base went stale long ago never
 * relies on the backend still remembering the token of base's successor
 * (backends keep a bounded number of tokens). */
static int head_still(struct kb_store *s, const char *base)
{
	struct kb_secret_info *info = NULL;
	int r = kb_store_describe(s, KB_REVOCATIONS_SECRET, &info);

	if (r == KB_ERR_NOT_FOUND)
		return base == NULL ? KB_OK : KB_ERR_CONFLICT;
	if (r != KB_OK)
		return r;
	r = KB_ERR_CONFLICT;
	for (size_t i = 0; i < info->nversions; i++)
		if ((info->versions[i].stages & KB_STAGE_CURRENT) && base != NULL && strcmp(info->versions[i].id, base) == 0)
			r = KB_OK;
	kb_secret_info_free(info);
	return r;
}

/* Writes doc as the successor of version base: the token is derived from
 * base only, so a second writer from the same base with another document
 * gets KB_ERR_CONFLICT. */
static int head_store(struct kb_store *s, const char *base, json_t *doc)
{
	struct kb_store_put_opts o = { .stage = KB_STAGE_CURRENT, .description = "keybroker revocations" };
	char token[65], *ver = NULL, *text;
	uint8_t h[16];
	int r;

	if ((r = head_still(s, base)) != KB_OK)
		return r;
	if ((text = json_dumps(doc, JSON_COMPACT)) == NULL)
		return KB_ERR_NOMEM;
	crypto_generichash(h, sizeof(h), (const uint8_t *)(base ? base : ""), base ? strlen(base) + 1 : 0,
			   (const uint8_t *)"keybroker-revocations", 21);
	sodium_bin2hex(token, sizeof(token), h, sizeof(h));
	o.token = token;
	r = kb_store_put(s, KB_REVOCATIONS_SECRET, (const uint8_t *)text, strlen(text), &o, &ver);
	free(ver);
	kb_json_free_string(text);
	return r;
}

/* Runs fn on the current head and writes the result with compare-and-swap,
 * again from a fresh read after every conflict (with a jittered pause). */
int kb_rev_head_update(struct kb_store *s, kb_rev_mutate_fn fn, void *arg)
{
	int r = KB_ERR_CONFLICT;

	for (int i = 0; i < MAX_TRIES && r == KB_ERR_CONFLICT; i++) {
		json_t *doc = NULL;
		char *base = NULL;
		bool changed = false;
		if (i > 0) {
			struct timespec ts = { 0, (long)(1000000L * (1 + randombytes_uniform(5u * (unsigned)(i < 10 ? i : 10)))) };
			nanosleep(&ts, NULL);
		}
		if ((r = kb_rev_head_load(s, &doc, &base)) == KB_OK && (r = fn(s, doc, arg, &changed)) == KB_OK && changed) {
			char *text = json_dumps(doc, JSON_COMPACT);
			if (text == NULL)
				r = KB_ERR_NOMEM;
			else if (strlen(text) > KB_STORE_VALUE_MAX)
				r = kb_err_set(KB_ERR_LIMIT, "%s is full (%zu shards; the head would need %zu bytes); "
					       "'broker revoke --prune' drops expired certificates' revocations",
					       KB_REVOCATIONS_SECRET, json_array_size(json_object_get(doc, "shards")),
					       strlen(text));
			else
				r = head_store(s, base, doc);
			kb_json_free_string(text);
		}
		json_decref(doc);
		free(base);
	}
	if (r == KB_ERR_CONFLICT)
		kb_err_set(r, "%s kept changing under us (%d tries); try again", KB_REVOCATIONS_SECRET, MAX_TRIES);
	return r;
}

/* ---- shards ---- */

int kb_rev_shard_get(struct kb_store *s, const char *id, char *const *needles, size_t nneedles, json_t **ret_doc)
{
	char *name = kb_asprintf(KB_REVOCATION_SHARD_PREFIX "%s", id), *ver = NULL;
	struct kb_buf val;
	int r;

	*ret_doc = NULL;
	if (name == NULL)
		return KB_ERR_NOMEM;
	kb_buf_init(&val, KB_STORE_VALUE_MAX);
	r = kb_store_get(s, name, NULL, &val, &ver);
	if (r == KB_OK && needles != NULL) {
		bool any = false;
		for (size_t i = 0; i < nneedles && !any; i++)
			any = memmem(val.data, val.len, needles[i], strlen(needles[i])) != NULL;
		if (!any) { /* cannot hold what the caller looks for: not parsed */
			kb_buf_done(&val);
			free(ver);
			free(name);
			return KB_OK;
		}
	}
	if (r == KB_OK && (r = kb_revocation_shard_parse((const char *)val.data, val.len, ret_doc)) != KB_OK) {
		char d[256];
		kb_strlcpy(d, kb_err_detail(), sizeof(d));
		r = kb_err_set(r, "%s: %s", name, d);
	}
	kb_buf_done(&val);
	free(ver);
	free(name);
	return r;
}

/* Writes one shard under a fresh random name; *ret_id gets the id. */
static int shard_put(struct kb_store *s, const json_t *entries, char ret_id[KB_REVOKE_SHARD_ID_LEN + 1])
{
	struct kb_store_put_opts o = { .stage = KB_STAGE_CURRENT, .description = "keybroker revocation shard" };
	uint8_t rnd[KB_REVOKE_SHARD_ID_LEN / 2];
	char *text = NULL, *name = NULL, *ver = NULL;
	size_t len;
	int r;

	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(ret_id, KB_REVOKE_SHARD_ID_LEN + 1, rnd, sizeof(rnd));
	if ((r = kb_revocation_shard_encode(entries, &text, &len)) != KB_OK)
		return r;
	if ((name = kb_asprintf(KB_REVOCATION_SHARD_PREFIX "%s", ret_id)) == NULL) {
		kb_json_free_string(text);
		return KB_ERR_NOMEM;
	}
	o.token = ret_id;
	r = kb_store_put(s, name, (const uint8_t *)text, len, &o, &ver);
	free(ver);
	free(name);
	kb_json_free_string(text);
	return r;
}

/* Size of e inside a shard (its "ca" becomes a small index). */
static size_t shard_cost(const json_t *e)
{
	json_t *c = json_copy((json_t *)e);
	size_t n = 64;
	if (c != NULL) {
		if (json_object_get(c, "ca") != NULL)
			json_object_set_new(c, "ca", json_integer(KB_REVOKE_MAX_SHARD_CAS));
		char *t = json_dumps(c, JSON_COMPACT);
		if (t != NULL)
			n = strlen(t) + 1;
		kb_json_free_string(t);
		json_decref(c);
	}
	return n;
}

int kb_rev_pack(struct kb_store *s, const json_t *tail, json_t *shards)
{
	json_t *group = json_array(), *e;
	const size_t header = 128;
	size_t i, used = header, ncas = 0;
	const char *cas[KB_REVOKE_MAX_SHARD_CAS];
	char id[KB_REVOKE_SHARD_ID_LEN + 1];
	int r = KB_OK;

	if (group == NULL)
		return KB_ERR_NOMEM;
	json_array_foreach(tail, i, e) {
		size_t cost = shard_cost(e), j;
		const char *ca = json_string_value(json_object_get(e, "ca"));
		for (j = 0; ca != NULL && j < ncas && strcmp(cas[j], ca) != 0; j++)
			;
		if (ca != NULL && j == ncas)
			cost += strlen(ca) * 2 + 3; /* a new line in "cas" (escapes at most double it) */
		if (json_array_size(group) > 0 &&
		    (used + cost > KB_REVOKE_SHARD_TARGET || json_array_size(group) >= KB_REVOKE_MAX_ENTRIES ||
		     (ca != NULL && j == ncas && ncas >= KB_REVOKE_MAX_SHARD_CAS))) {
			if ((r = shard_put(s, group, id)) != KB_OK)
				break;
			json_array_append_new(shards, json_string(id));
			json_array_clear(group);
			used = header;
			ncas = 0;
			j = 0;
			if (ca != NULL)
				cost = shard_cost(e) + strlen(ca) * 2 + 3;
		}
		if (ca != NULL && j == ncas)
			cas[ncas++] = ca;
		used += cost;
		json_array_append(group, e);
	}
	if (r == KB_OK && json_array_size(group) > 0 && (r = shard_put(s, group, id)) == KB_OK)
		json_array_append_new(shards, json_string(id));
	json_decref(group);
	if (r == KB_OK && json_array_size(shards) > KB_REVOKE_MAX_SHARDS)
		r = kb_err_set(KB_ERR_LIMIT,
			       "%s is full (%d shards); 'broker revoke --prune' drops expired certificates' revocations",
			       KB_REVOCATIONS_SECRET, KB_REVOKE_MAX_SHARDS);
	return r;
}

/* ---- the shard cache (see revoke_int.h) ---- */


int kb_rev_cache_get(struct kb_store *s, struct kb_rev_shard_cache *c, const char *id, const json_t **ret)
{
	json_t *doc = NULL;
	int r;

	for (size_t i = c->n; i-- > 0;) {
		if (strcmp(c->ids[i], id) == 0) {
			*ret = c->docs[i];
			return KB_OK;
		}
	}
	if ((r = kb_rev_shard_get(s, id, c->needles, c->nneedles, &doc)) != KB_OK)
		return r == KB_ERR_NOT_FOUND ? KB_ERR_CONFLICT : r; /* replaced meanwhile: start over */
	void *a = realloc(c->ids, (c->n + 1) * sizeof(*c->ids)), *b = a ? realloc(c->docs, (c->n + 1) * sizeof(*c->docs)) : NULL;
	if (a)
		c->ids = a;
	if (b)
		c->docs = b;
	if (a == NULL || b == NULL) {
		json_decref(doc);
		return KB_ERR_NOMEM;
	}
	kb_strlcpy(c->ids[c->n], id, sizeof(c->ids[0]));
	c->docs[c->n++] = doc;
	*ret = doc;
	return KB_OK;
}

void kb_rev_cache_done(struct kb_rev_shard_cache *c)
{
	for (size_t i = 0; i < c->n; i++)
		json_decref(c->docs[i]);
	for (size_t i = 0; i < c->nneedles; i++)
		free(c->needles[i]);
	free(c->needles);
	free(c->ids);
	free(c->docs);
}

/* ---- snapshot ---- */

int kb_revocations_load(struct kb_store *s, json_t **ret_doc, char **ret_version)
{
	int r = KB_OK;

	*ret_doc = NULL;
	*ret_version = NULL;
	for (int i = 0; i < MAX_TRIES; i++) {
		json_t *doc = NULL, *all = json_array(), *id;
		char *ver = NULL;
		size_t k;
		if (all == NULL)
			return KB_ERR_NOMEM;
		if ((r = kb_rev_head_load(s, &doc, &ver)) != KB_OK) {
			json_decref(all);
			return r;
		}
		json_array_foreach(json_object_get(doc, "shards"), k, id) {
			json_t *sh = NULL;
			if ((r = kb_rev_shard_get(s, json_string_value(id), NULL, 0, &sh)) != KB_OK)
				break;
			if (json_array_extend(all, json_object_get(sh, "entries")) != 0)
				r = KB_ERR_NOMEM;
			json_decref(sh);
			if (r != KB_OK)
				break;
		}
		if (r == KB_OK && json_array_extend(all, json_object_get(doc, "entries")) != 0)
			r = KB_ERR_NOMEM;
		if (r == KB_OK) {
			json_object_set_new(doc, "entries", all);
			*ret_doc = doc;
			*ret_version = ver;
			return KB_OK;
		}
		json_decref(all);
		json_decref(doc);
		free(ver);
		/* A shard named by the head we read is gone: a prune replaced it
		 * after we read the head.  Read again. */
		if (r != KB_ERR_NOT_FOUND)
			return r;
	}
	return kb_err_set(r, "%s: a shard it names is missing", KB_REVOCATIONS_SECRET);
}

/* ---- krl_version ---- */

struct krlv {
	uint64_t min, got;
};

static int bump_version(struct kb_store *s, json_t *head, void *arg, bool *changed)
{
	struct krlv *a = arg;
	uint64_t v = (uint64_t)json_integer_value(json_object_get(head, "krl_version"));
	(void)s;
	if (v < a->min)
		v = a->min;
	if (v >= (uint64_t)INT64_MAX)
		return kb_err_set(KB_ERR_LIMIT, "krl_version would overflow");
	a->got = ++v;
	*changed = true;
	return json_object_set_new(head, "krl_version", json_integer((json_int_t)v)) == 0 ? KB_OK : KB_ERR_NOMEM;
}

int kb_revocations_next_krl_version(struct kb_store *s, uint64_t min_version, uint64_t *ret_version)
{
	struct krlv a = { min_version, 0 };
	int r = kb_rev_head_update(s, bump_version, &a);
	if (r == KB_OK)
		*ret_version = a.got;
	return r;
}
