/* Adding and pruning revocations (see revoke.h). */
#include "revoke.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "revoke_int.h"
#include "store/store.h"

/* ---- a set of entry digests (open addressing) ---- */

struct dset {
	uint8_t (*v)[16];
	uint8_t *used;
	size_t cap, n;
};

static size_t slot(const struct dset *d, const uint8_t k[16])
{
	size_t h = 0;
	memcpy(&h, k, sizeof(h));
	return h & (d->cap - 1);
}

static int dset_add(struct dset *d, const uint8_t k[16], bool *ret_new)
{
	if ((d->n + 1) * 2 > d->cap) {
		struct dset g = { 0 };
		g.cap = d->cap ? d->cap * 2 : 64;
		if ((g.v = calloc(g.cap, 16)) == NULL || (g.used = calloc(g.cap, 1)) == NULL) {
			free(g.v);
			return KB_ERR_NOMEM;
		}
		for (size_t i = 0; i < d->cap; i++) {
			if (!d->used[i])
				continue;
			size_t j = slot(&g, d->v[i]);
			while (g.used[j])
				j = (j + 1) & (g.cap - 1);
			memcpy(g.v[j], d->v[i], 16);
			g.used[j] = 1;
		}
		g.n = d->n;
		free(d->v);
		free(d->used);
		*d = g;
	}
	size_t j = slot(d, k);
	while (d->used[j]) {
		if (memcmp(d->v[j], k, 16) == 0) {
			*ret_new = false;
			return KB_OK;
		}
		j = (j + 1) & (d->cap - 1);
	}
	memcpy(d->v[j], k, 16);
	d->used[j] = 1;
	d->n++;
	*ret_new = true;
	return KB_OK;
}

static void dset_done(struct dset *d)
{
	free(d->v);
	free(d->used);
	memset(d, 0, sizeof(*d));
}

/* A few revocations that all name a serial: an entry equal to one of them
 * has its serial, so a shard without any of the quoted serials needs no
 * parsing.  (A miss here can only cost a duplicate entry, never a loss.) */
#define NEEDLES_MAX 16
static int make_needles(struct kb_rev_shard_cache *c, const struct kb_revocation *revs, size_t n)
{
	if (n > NEEDLES_MAX)
		return KB_OK;
	for (size_t i = 0; i < n; i++)
		if (revs[i].serial == 0)
			return KB_OK;
	if ((c->needles = calloc(n, sizeof(*c->needles))) == NULL)
		return KB_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		if ((c->needles[i] = kb_asprintf("\"%llu\"", (unsigned long long)revs[i].serial)) == NULL)
			return KB_ERR_NOMEM;
		c->nneedles++;
	}
	return KB_OK;
}

/* ---- add ---- */

struct add_arg {
	const struct kb_revocation *revs;
	size_t n;
	json_t **entries;
	uint8_t (*dg)[16];
	bool *added;
	struct kb_rev_shard_cache cache;
	char time[64];
};

static int digest_all(struct dset *set, const json_t *entries)
{
	size_t i;
	json_t *e;
	bool fresh;
	json_array_foreach(entries, i, e) {
		uint8_t d[16];
		kb_revocation_entry_digest(e, d);
		if (dset_add(set, d, &fresh) != KB_OK)
			return KB_ERR_NOMEM;
	}
	return KB_OK;
}

static int add_fn(struct kb_store *s, json_t *head, void *arg, bool *changed)
{
	struct add_arg *a = arg;
	json_t *tail = json_object_get(head, "entries"), *id;
	struct dset set = { 0 };
	size_t i, count = 0;
	int r = KB_OK;

	json_array_foreach(json_object_get(head, "shards"), i, id) {
		const json_t *sh;
		if ((r = kb_rev_cache_get(s, &a->cache, json_string_value(id), &sh)) != KB_OK ||
		    (r = digest_all(&set, json_object_get(sh, "entries"))) != KB_OK)
			goto out;
	}
	if ((r = digest_all(&set, tail)) != KB_OK)
		goto out;
	for (i = 0; i < a->n; i++) {
		const struct kb_revocation *rev = &a->revs[i];
		if ((r = dset_add(&set, a->dg[i], &a->added[i])) != KB_OK)
			goto out;
		if (!a->added[i])
			continue;
		json_t *full = json_deep_copy(a->entries[i]);
		if (full == NULL || json_array_append_new(tail, full) != 0) {
			r = KB_ERR_NOMEM;
			goto out;
		}
		json_object_set_new(full, "time", json_string(a->time));
		if (rev->identity)
			json_object_set_new(full, "identity", json_string(rev->identity));
		if (rev->requester)
			json_object_set_new(full, "requester", json_string(rev->requester));
		if (rev->reason)
			json_object_set_new(full, "reason", json_string(rev->reason));
		count++;
	}
	if (count == 0)
		goto out;
	*changed = true;
	char *text = json_dumps(head, JSON_COMPACT);
	if (text == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	size_t len = strlen(text);
	kb_json_free_string(text);
	if (len > KB_REVOKE_TAIL_MAX || json_array_size(tail) > KB_REVOKE_MAX_ENTRIES) {
		if ((r = kb_rev_pack(s, tail, json_object_get(head, "shards"))) == KB_OK)
			json_array_clear(tail);
	}
out:
	dset_done(&set);
	return r;
}

int kb_revocations_add_many(struct kb_store *s, const struct kb_revocation *revs, size_t n, bool *added)
{
	struct add_arg a = { .revs = revs, .n = n };
	int r = KB_OK;

	if (n == 0)
		return KB_OK;
	a.entries = calloc(n, sizeof(*a.entries));
	a.dg = calloc(n, sizeof(*a.dg));
	a.added = added ? added : calloc(n, sizeof(*a.added));
	if (a.entries == NULL || a.dg == NULL || a.added == NULL)
		r = KB_ERR_NOMEM;
	for (size_t i = 0; i < n && r == KB_OK; i++) {
		if ((a.entries[i] = kb_revocation_entry(&revs[i])) == NULL)
			r = KB_ERR_NOMEM;
		else if (json_object_size(a.entries[i]) == 0)
			r = kb_err_set(KB_ERR_ARGS, "nothing to revoke");
		else
			kb_revocation_entry_digest(a.entries[i], a.dg[i]);
	}
	kb_format_time_utc(time(NULL), a.time, sizeof(a.time));
	if (r == KB_OK)
		r = make_needles(&a.cache, revs, n);
	if (r == KB_OK)
		r = kb_rev_head_update(s, add_fn, &a);
	if (r != KB_OK && added)
		memset(added, 0, n * sizeof(*added));
	for (size_t i = 0; a.entries && i < n; i++)
		json_decref(a.entries[i]);
	free(a.entries);
	free(a.dg);
	if (added == NULL)
		free(a.added);
	kb_rev_cache_done(&a.cache);
	return r;
}

int kb_revocations_add(struct kb_store *s, const struct kb_revocation *rev, bool *ret_added)
{
	*ret_added = false;
	return kb_revocations_add_many(s, rev, 1, ret_added);
}

