#include "keystore.h"

#include <stdlib.h>
#include <string.h>

#include "agent/proto.h"
#include "core/err.h"
#include "core/mem.h"
#include "ssh/key.h"

#define LIST_REPLY_MAX (64u * 1024u * 1024u)

static uint64_t blob_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

struct kb_agent_identity *kb_agent_identity_new(void)
{
	struct kb_agent_identity *id = calloc(1, sizeof(*id));
	if (id == NULL)
		return NULL;
	atomic_init(&id->refs, 1);
	kb_buf_init(&id->blob, KB_KEY_BLOB_MAX);
	return id;
}

static void hop_done(struct kb_agent_hop *h)
{
	free(h->user);
	free(h->hostname);
	for (size_t i = 0; i < h->nkeys; i++)
		kb_key_free(h->keys[i]);
	free(h->keys);
	free(h->is_ca);
}

void kb_agent_destcons_free(struct kb_agent_destcon *dcs, size_t n)
{
	if (dcs == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		hop_done(&dcs[i].from);
		hop_done(&dcs[i].to);
	}
	free(dcs);
}

void kb_agent_identity_unref(struct kb_agent_identity *id)
{
	if (id == NULL)
		return;
	if (atomic_fetch_sub(&id->refs, 1) != 1)
		return;
	kb_key_free(id->key);
	free(id->comment);
	kb_buf_done(&id->blob);
	kb_agent_destcons_free(id->dcs, id->ndcs);
	free(id);
}

static void table_free(struct kb_agent_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		kb_agent_identity_unref(t->ids[i]);
	for (size_t i = 0; i < t->nretired; i++)
		kb_agent_identity_unref(t->retired[i].id);
	free(t->ids);
	free(t->retired);
	free(t->index);
	kb_buf_done(&t->list_reply);
	free(t);
}

void kb_agent_table_release(struct kb_agent_table *t)
{
	if (t != NULL && atomic_fetch_sub(&t->refs, 1) == 1)
		table_free(t);
}

static void note_ends(struct kb_agent_table *t, const struct kb_agent_identity *id, int64_t death)
{
	if (death != 0 && (t->next_death == 0 || death < t->next_death))
		t->next_death = death;
	if (id->is_cert && id->valid_before != UINT64_MAX &&
	    (t->next_cert_end == 0 || id->valid_before < t->next_cert_end))
		t->next_cert_end = id->valid_before;
}

/* Builds a snapshot from `n` live identities and `nr` retired ones
 * (references are taken). */
static int table_build(struct kb_agent_identity *const *ids, size_t n, const struct kb_agent_retired *ret_ids,
		       size_t nr, struct kb_agent_table **ret)
{
	struct kb_agent_table *t;
	int r = KB_ERR_NOMEM;

	*ret = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return KB_ERR_NOMEM;
	atomic_init(&t->refs, 1);
	kb_buf_init(&t->list_reply, LIST_REPLY_MAX);
	t->index_cap = 8;
	while (t->index_cap < 2 * n)
		t->index_cap *= 2;
	if ((t->ids = calloc(n ? n : 1, sizeof(*t->ids))) == NULL ||
	    (t->index = malloc(t->index_cap * sizeof(*t->index))) == NULL ||
	    (nr != 0 && (t->retired = calloc(nr, sizeof(*t->retired))) == NULL))
		goto out;
	for (size_t i = 0; i < t->index_cap; i++)
		t->index[i] = -1;
	for (size_t i = 0; i < nr; i++) {
		atomic_fetch_add(&ret_ids[i].id->refs, 1);
		t->retired[t->nretired++] = ret_ids[i];
		note_ends(t, ret_ids[i].id, ret_ids[i].until);
	}
	if ((r = kb_buf_put_u8(&t->list_reply, KB_AGENT_IDENTITIES_ANSWER)) != 0 ||
	    (r = kb_buf_put_u32(&t->list_reply, (uint32_t)n)) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct kb_agent_identity *id = ids[i];
		atomic_fetch_add(&id->refs, 1);
		t->ids[t->n++] = id;
		size_t slot = (size_t)id->hash & (t->index_cap - 1);
		while (t->index[slot] >= 0)
			slot = (slot + 1) & (t->index_cap - 1);
		t->index[slot] = (int32_t)i;
		note_ends(t, id, id->death);
		if ((r = kb_buf_put_stringb(&t->list_reply, &id->blob)) != 0 ||
		    (r = kb_buf_put_cstring(&t->list_reply, id->comment ? id->comment : "")) != 0)
			goto out;
	}
	*ret = t;
	t = NULL;
	r = KB_OK;
out:
	table_free(t);
	return r;
}

static bool same_blob(const struct kb_agent_identity *id, uint64_t h, const uint8_t *blob, size_t len)
{
	return id->hash == h && kb_buf_remaining(&id->blob) == len && memcmp(kb_buf_ptr(&id->blob), blob, len) == 0;
}

struct kb_agent_identity *kb_agent_table_find(const struct kb_agent_table *t, const uint8_t *blob,
					      size_t len)
{
	uint64_t h = blob_hash(blob, len);
	size_t slot = (size_t)h & (t->index_cap - 1);

	for (;;) {
		int32_t pos = t->index[slot];
		if (pos < 0)
			return NULL;
		struct kb_agent_identity *id = t->ids[pos];
		if (same_blob(id, h, blob, len))
			return id;
		slot = (slot + 1) & (t->index_cap - 1);
	}
}

static bool identity_dead(const struct kb_agent_identity *id, int64_t now_ms, int64_t now_real)
{
	if (id->death != 0 && id->death <= now_ms)
		return true;
	return id->is_cert && id->valid_before != UINT64_MAX && now_real >= 0 &&
	       (uint64_t)now_real >= id->valid_before;
}

static bool retired_dead(const struct kb_agent_retired *r, int64_t now_ms, int64_t now_real)
{
	return r->until <= now_ms || identity_dead(r->id, now_ms, now_real);
}

struct kb_agent_identity *kb_agent_table_find_retired(const struct kb_agent_table *t, const uint8_t *blob,
						      size_t len, int64_t now_ms, int64_t now_real)
{
	if (t->nretired == 0)
		return NULL;
	uint64_t h = blob_hash(blob, len);
	for (size_t i = t->nretired; i-- > 0;)
		if (same_blob(t->retired[i].id, h, blob, len))
			return retired_dead(&t->retired[i], now_ms, now_real) ? NULL : t->retired[i].id;
	return NULL;
}

int kb_agent_keystore_init(struct kb_agent_keystore *ks)
{
	memset(ks, 0, sizeof(*ks));
	pthread_mutex_init(&ks->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ks->changed, &ca);
	pthread_condattr_destroy(&ca);
	return table_build(NULL, 0, NULL, 0, &ks->cur);
}

void kb_agent_keystore_done(struct kb_agent_keystore *ks)
{
	kb_agent_table_release(ks->cur);
	ks->cur = NULL;
	pthread_cond_destroy(&ks->changed);
	pthread_mutex_destroy(&ks->mu);
}

struct kb_agent_table *kb_agent_keystore_acquire(struct kb_agent_keystore *ks)
{
	pthread_mutex_lock(&ks->mu);
	struct kb_agent_table *t = ks->cur;
	atomic_fetch_add(&t->refs, 1);
	pthread_mutex_unlock(&ks->mu);
	return t;
}

/* Called with ks->mu held: installs t as current and drops the old one. */
static void swap_in(struct kb_agent_keystore *ks, struct kb_agent_table *t)
{
	struct kb_agent_table *old = ks->cur;
	ks->cur = t;
	ks->generation++;
	pthread_cond_broadcast(&ks->changed);
	kb_agent_table_release(old);
}

/* Rebuilds the table from cur, skipping `skip1`, `skip2` (may be NULL),
 * putting `put` at position `at` (replace) or at the end (at == SIZE_MAX,
 * put != NULL).  Retired identities are those of cur for which keep() is
 * true, then `retire` (when non-NULL) until `until`; the oldest beyond
 * KB_AGENT_RETIRED_MAX are dropped. */
struct keep_arg {
	const struct kb_agent_identity *put; /* drop retired ones with its blob */
	const struct kb_buf *plain;          /* drop retired ones with this key */
	bool none;                           /* drop every retired one */
};

static bool keep_retired(const struct kb_agent_identity *r, const struct keep_arg *k)
{
	if (k == NULL)
		return true;
	if (k->none)
		return false;
	if (k->put != NULL &&
	    same_blob(r, k->put->hash, kb_buf_ptr(&k->put->blob), kb_buf_remaining(&k->put->blob)))
		return false;
	if (k->plain != NULL) {
		struct kb_buf p;
		bool same;
		kb_buf_init(&p, KB_KEY_BLOB_MAX);
		/* When the plain blob cannot be made, err on the side of dropping. */
		same = kb_key_plain_blob(r->key, &p) != 0 ||
		       (kb_buf_remaining(&p) == kb_buf_remaining(k->plain) &&
			memcmp(kb_buf_ptr(&p), kb_buf_ptr(k->plain), kb_buf_remaining(&p)) == 0);
		kb_buf_done(&p);
		if (same)
			return false;
	}
	return true;
}

static int rebuild(struct kb_agent_keystore *ks, const struct kb_agent_identity *skip1,
		   const struct kb_agent_identity *skip2, struct kb_agent_identity *put, size_t at,
		   const struct keep_arg *keep, struct kb_agent_identity *retire, int64_t until)
{
	struct kb_agent_table *cur = ks->cur, *t = NULL;
	struct kb_agent_identity **v = calloc(cur->n + 1, sizeof(*v));
	struct kb_agent_retired *rv = calloc(cur->nretired + 1, sizeof(*rv));
	size_t n = 0, nr = 0;
	int r = KB_ERR_NOMEM;

	if (v == NULL || rv == NULL)
		goto out;
	for (size_t i = 0; i < cur->n; i++) {
		if (i == at && put != NULL)
			v[n++] = put;
		else if (cur->ids[i] != skip1 && cur->ids[i] != skip2)
			v[n++] = cur->ids[i];
	}
	if (put != NULL && at == SIZE_MAX)
		v[n++] = put;
	for (size_t i = 0; i < cur->nretired; i++)
		if (keep_retired(cur->retired[i].id, keep))
			rv[nr++] = cur->retired[i];
	if (retire != NULL)
		rv[nr++] = (struct kb_agent_retired){ .id = retire, .until = until };
	size_t drop = nr > KB_AGENT_RETIRED_MAX ? nr - KB_AGENT_RETIRED_MAX : 0;
	r = table_build(v, n, rv + drop, nr - drop, &t);
	if (r == 0)
		swap_in(ks, t);
out:
	free(v);
	free(rv);
	return r;
}

static size_t position_of(const struct kb_agent_table *t, const struct kb_agent_identity *id)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->ids[i] == id)
			return i;
	return SIZE_MAX;
}

int kb_agent_keystore_add(struct kb_agent_keystore *ks, struct kb_agent_identity *id)
{
	int r;

	id->hash = blob_hash(kb_buf_ptr(&id->blob), kb_buf_remaining(&id->blob));
	pthread_mutex_lock(&ks->mu);
	struct kb_agent_identity *old =
		kb_agent_table_find(ks->cur, kb_buf_ptr(&id->blob), kb_buf_remaining(&id->blob));
	struct keep_arg keep = { .put = id };
	r = rebuild(ks, NULL, NULL, id, old ? position_of(ks->cur, old) : SIZE_MAX, &keep, NULL, 0);
	pthread_mutex_unlock(&ks->mu);
	kb_agent_identity_unref(id);
	return r;
}

int kb_agent_keystore_replace(struct kb_agent_keystore *ks, const uint8_t *old_blob, size_t old_len,
			      struct kb_agent_identity *id, int64_t now_ms, int64_t grace_ms)
{
	int r;

	id->hash = blob_hash(kb_buf_ptr(&id->blob), kb_buf_remaining(&id->blob));
	pthread_mutex_lock(&ks->mu);
	struct kb_agent_identity *old = kb_agent_table_find(ks->cur, old_blob, old_len);
	if (old == NULL) {
		r = KB_ERR_NOT_FOUND;
	} else {
		struct kb_agent_identity *dup = kb_agent_table_find(
			ks->cur, kb_buf_ptr(&id->blob), kb_buf_remaining(&id->blob));
		if (dup == old)
			dup = NULL;
		struct keep_arg keep = { .put = id };
		int64_t until = grace_ms > 0 ? now_ms + grace_ms : now_ms;
		if (old->death != 0 && old->death < until)
			until = old->death;
		/* The same blob stays live (a re-add through replace): nothing
		 * to retire. */
		bool retire = until > now_ms &&
			      !same_blob(old, id->hash, kb_buf_ptr(&id->blob), kb_buf_remaining(&id->blob));
		r = rebuild(ks, old, dup, id, position_of(ks->cur, old), &keep, retire ? old : NULL, until);
	}
	pthread_mutex_unlock(&ks->mu);
	kb_agent_identity_unref(id);
	return r;
}

int kb_agent_keystore_remove(struct kb_agent_keystore *ks, const uint8_t *blob, size_t len)
{
	struct kb_key *k = NULL;
	struct kb_buf plain;
	uint64_t h = blob_hash(blob, len);
	int r;

	/* Retired identities holding the same key go too, whatever their
	 * certificate: after ssh-add -d nothing signs with that key. */
	kb_buf_init(&plain, KB_KEY_BLOB_MAX);
	bool have_plain = kb_key_from_blob(blob, len, &k) == 0 && kb_key_plain_blob(k, &plain) == 0;
	kb_key_free(k);
	pthread_mutex_lock(&ks->mu);
	struct kb_agent_table *cur = ks->cur;
	struct kb_agent_identity *old = kb_agent_table_find(cur, blob, len);
	struct keep_arg keep = { .plain = have_plain ? &plain : NULL };
	size_t gone = 0;
	for (size_t i = 0; i < cur->nretired; i++)
		if (same_blob(cur->retired[i].id, h, blob, len) || !keep_retired(cur->retired[i].id, &keep))
			gone++;
	if (old == NULL && gone == 0) {
		r = KB_ERR_NOT_FOUND;
	} else {
		/* keep_retired with .put drops the exact blob as well. */
		struct kb_agent_identity probe = { .hash = h };
		kb_buf_init_ro(&probe.blob, blob, len);
		keep.put = &probe;
		r = rebuild(ks, old, NULL, NULL, SIZE_MAX, &keep, NULL, 0);
	}
	pthread_mutex_unlock(&ks->mu);
	kb_buf_done(&plain);
	return r;
}

int kb_agent_keystore_remove_all(struct kb_agent_keystore *ks)
{
	struct kb_agent_table *t;
	int r;

	pthread_mutex_lock(&ks->mu);
	if ((r = table_build(NULL, 0, NULL, 0, &t)) == 0)
		swap_in(ks, t);
	pthread_mutex_unlock(&ks->mu);
	return r;
}

int kb_agent_keystore_drop_retired(struct kb_agent_keystore *ks)
{
	int r = 0;
	struct keep_arg keep = { .none = true };

	pthread_mutex_lock(&ks->mu);
	if (ks->cur->nretired != 0)
		r = rebuild(ks, NULL, NULL, NULL, SIZE_MAX, &keep, NULL, 0);
	pthread_mutex_unlock(&ks->mu);
	return r;
}

bool kb_agent_table_has_expired(const struct kb_agent_table *t, int64_t now_ms, int64_t now_real)
{
	return (t->next_death != 0 && t->next_death <= now_ms) ||
	       (t->next_cert_end != 0 && now_real >= 0 && (uint64_t)now_real >= t->next_cert_end);
}

int kb_agent_keystore_expire(struct kb_agent_keystore *ks, int64_t now_ms, int64_t now_real)
{
	int r = 0, removed = 0;

	pthread_mutex_lock(&ks->mu);
	struct kb_agent_table *cur = ks->cur;
	if (kb_agent_table_has_expired(cur, now_ms, now_real)) {
		struct kb_agent_identity **v = calloc(cur->n + 1, sizeof(*v));
		struct kb_agent_retired *rv = calloc(cur->nretired + 1, sizeof(*rv));
		struct kb_agent_table *t = NULL;
		size_t n = 0, nr = 0;
		if (v == NULL || rv == NULL) {
			r = KB_ERR_NOMEM;
		} else {
			for (size_t i = 0; i < cur->n; i++) {
				if (identity_dead(cur->ids[i], now_ms, now_real))
					removed++;
				else
					v[n++] = cur->ids[i];
			}
			for (size_t i = 0; i < cur->nretired; i++) {
				if (retired_dead(&cur->retired[i], now_ms, now_real))
					removed++;
				else
					rv[nr++] = cur->retired[i];
			}
			r = table_build(v, n, rv, nr, &t);
			if (r == 0)
				swap_in(ks, t);
		}
		free(v);
		free(rv);
	}
	pthread_mutex_unlock(&ks->mu);
	return r < 0 ? r : removed;
}
