/* Pruning revocations of expired certificates and collecting unreferenced
 * shards (see revoke.h). */
#include "revoke.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "revoke_int.h"
#include "store/store.h"

struct prune_arg {
	int64_t now;
	bool dry;
	struct kb_revocations_prune_result *res;
	struct kb_rev_shard_cache cache;
};

/* Moves the expired entries of in to dropped and the others to keep. */
static int split(const json_t *in, int64_t now, json_t *keep, json_t *dropped)
{
	size_t i;
	json_t *e;
	json_array_foreach(in, i, e) {
		if (json_array_append(kb_revocation_expired(e, now) ? dropped : keep, e) != 0)
			return KB_ERR_NOMEM;
	}
	return KB_OK;
}

static int prune_fn(struct kb_store *s, json_t *head, void *arg, bool *changed)
{
	struct prune_arg *a = arg;
	json_t *shards = json_array(), *pool = json_array(), *tail = json_array(), *id;
	struct kb_revocations_prune_result *res = a->res;
	size_t i;
	int r = KB_OK;

	json_decref(res->dropped);
	res->dropped = json_array();
	res->kept = 0;
	res->shards_before = json_array_size(json_object_get(head, "shards"));
	if (shards == NULL || pool == NULL || tail == NULL || res->dropped == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	json_array_foreach(json_object_get(head, "shards"), i, id) {
		const json_t *sh;
		size_t before = json_array_size(res->dropped), pooled = json_array_size(pool);
		if ((r = kb_rev_cache_get(s, &a->cache, json_string_value(id), &sh)) != KB_OK ||
		    (r = split(json_object_get(sh, "entries"), a->now, pool, res->dropped)) != KB_OK)
			goto out;
		if (json_array_size(res->dropped) == before) { /* untouched: keep the shard as it is */
			while (json_array_size(pool) > pooled)
				json_array_remove(pool, json_array_size(pool) - 1);
			res->kept += json_array_size(json_object_get(sh, "entries"));
			json_array_append(shards, id);
		}
	}
	res->kept += json_array_size(pool);
	if ((r = split(json_object_get(head, "entries"), a->now, tail, res->dropped)) != KB_OK)
		goto out;
	res->kept += json_array_size(tail);
	if (a->dry || json_array_size(res->dropped) == 0) {
		res->shards_after = res->shards_before;
		goto out;
	}
	/* the survivors of changed shards, packed into new shards */
	if ((r = kb_rev_pack(s, pool, shards)) != KB_OK)
		goto out;
	res->shards_after = json_array_size(shards);
	json_object_set(head, "shards", shards);
	json_object_set(head, "entries", tail);
	*changed = true;
out:
	json_decref(shards);
	json_decref(pool);
	json_decref(tail);
	return r;
}

/* Deletes shard secrets no head names that are old enough. */
static int collect_garbage(struct kb_store *s, int64_t now, struct kb_revocations_prune_result *res)
{
	json_t *head = NULL;
	char **names = NULL, *ver = NULL;
	size_t n = 0, i;
	int r;

	if ((r = kb_rev_head_load(s, &head, &ver)) != KB_OK)
		return r;
	free(ver);
	if ((r = kb_store_list(s, KB_REVOCATION_SHARD_PREFIX, &names, &n)) != KB_OK) {
		json_decref(head);
		return r == KB_ERR_NOT_FOUND ? KB_OK : r;
	}
	for (i = 0; i < n; i++) {
		const char *id = names[i] + strlen(KB_REVOCATION_SHARD_PREFIX), *x;
		bool named = false;
		size_t k;
		json_t *v;
		if (strncmp(names[i], KB_REVOCATION_SHARD_PREFIX, strlen(KB_REVOCATION_SHARD_PREFIX)) != 0)
			continue;
		json_array_foreach(json_object_get(head, "shards"), k, v) {
			x = json_string_value(v);
			if (x && strcmp(x, id) == 0)
				named = true;
		}
		if (named)
			continue;
		struct kb_secret_info *info = NULL;
		if (kb_store_describe(s, names[i], &info) != KB_OK)
			continue;
		int64_t created = info->created;
		for (k = 0; k < info->nversions; k++)
			if (info->versions[k].created > created)
				created = info->versions[k].created;
		kb_secret_info_free(info);
		if (created > 0 && created <= now - KB_REVOKE_GC_AGE && kb_store_remove(s, names[i]) == KB_OK)
			res->gc_removed++;
		else
			res->gc_young++;
	}
	kb_store_names_free(names, n);
	json_decref(head);
	return KB_OK;
}

int kb_revocations_prune(struct kb_store *s, int64_t now, bool dry_run, struct kb_revocations_prune_result *ret)
{
	struct prune_arg a = { .now = now, .dry = dry_run, .res = ret };
	int r;

	memset(ret, 0, sizeof(*ret));
	r = kb_rev_head_update(s, prune_fn, &a);
	kb_rev_cache_done(&a.cache);
	if (r == KB_OK && !dry_run)
		r = collect_garbage(s, now, ret);
	return r;
}

void kb_revocations_prune_result_done(struct kb_revocations_prune_result *res)
{
	if (res == NULL)
		return;
	json_decref(res->dropped);
	res->dropped = NULL;
}
