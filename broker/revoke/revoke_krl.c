/* Recorded revocations -> KRL, and matching agent identities (see revoke.h).
 *
 * The KRL library keeps its lists sorted and re-sorts on every out-of-order
 * insert, so entries are collected, sorted here and added in order: 100,000
 * random serials then cost one sort instead of 100,000. */
#include "revoke.h"

#include <stdlib.h>
#include <string.h>

#include "cert/cert.h"
#include "cert/krl.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/util.h"

struct serial_item {
	size_t ca;
	uint64_t serial;
};
struct blob_item {
	size_t ca; /* SIZE_MAX: any CA */
	const uint8_t *p;
	size_t n;
	struct kb_key *key; /* plain keys only */
};

struct collect {
	char **ca_lines; /* distinct CA lines, parsed in cas */
	struct kb_key **cas;
	size_t ncas, last;
	struct serial_item *serials;
	struct blob_item *ids, *keys;
	size_t nserials, nids, nkeys;
};

static int push(void **arr, size_t *n, size_t elem)
{
	if ((*n & (*n - 1)) == 0) { /* 0 or a power of two: double */
		void *v = realloc(*arr, (*n ? 2 * *n : 1) * elem);
		if (v == NULL)
			return KB_ERR_NOMEM;
		*arr = v;
	}
	(*n)++;
	return KB_OK;
}

static int parse_line_key(const char *line, struct kb_key **ret)
{
	char *comment = NULL;
	int r = kb_key_parse_public_line(line, ret, &comment);
	free(comment);
	return r;
}

/* Index of the CA with this line, parsed on first sight. */
static int ca_index(struct collect *c, const char *line, size_t *ret)
{
	struct kb_key *k = NULL;
	int r;

	if (c->ncas > 0 && strcmp(c->ca_lines[c->last], line) == 0) {
		*ret = c->last;
		return KB_OK;
	}
	for (size_t i = 0; i < c->ncas; i++) {
		if (strcmp(c->ca_lines[i], line) == 0) {
			*ret = c->last = i;
			return KB_OK;
		}
	}
	if (c->ncas >= KB_KRL_MAX_CAS)
		return kb_err_set(KB_ERR_LIMIT, "more than %d CA keys", KB_KRL_MAX_CAS);
	if ((r = parse_line_key(line, &k)) != KB_OK)
		return r;
	size_t n = c->ncas;
	if (push((void **)&c->cas, &n, sizeof(*c->cas)) != KB_OK ||
	    push((void **)&c->ca_lines, &c->ncas, sizeof(*c->ca_lines)) != KB_OK) {
		kb_key_free(k);
		return KB_ERR_NOMEM;
	}
	c->cas[c->ncas - 1] = k;
	c->ca_lines[c->ncas - 1] = (char *)line; /* borrowed from the document */
	*ret = c->last = c->ncas - 1;
	return KB_OK;
}

static int collect_entry(struct collect *c, const json_t *e, size_t i)
{
	const char *ca_line = json_string_value(json_object_get(e, "ca"));
	const char *serial = json_string_value(json_object_get(e, "serial"));
	const char *key_id = json_string_value(json_object_get(e, "key_id"));
	const char *key_line = json_string_value(json_object_get(e, "key"));
	size_t ca = SIZE_MAX;
	uint64_t sn;
	int r;

	if (serial == NULL && key_id == NULL && key_line == NULL)
		return kb_err_set(KB_ERR_INVALID, "%s entry %zu revokes nothing", KB_REVOCATIONS_SECRET, i + 1);
	if (ca_line != NULL && (r = ca_index(c, ca_line, &ca)) != KB_OK)
		return kb_err_set(r, "%s entry %zu: bad CA key", KB_REVOCATIONS_SECRET, i + 1);
	if (serial != NULL) {
		if (ca == SIZE_MAX || kb_parse_u64(serial, UINT64_MAX, &sn) != KB_OK || sn == 0)
			return kb_err_set(KB_ERR_INVALID, "%s entry %zu: bad serial", KB_REVOCATIONS_SECRET, i + 1);
		if (push((void **)&c->serials, &c->nserials, sizeof(*c->serials)) != KB_OK)
			return KB_ERR_NOMEM;
		c->serials[c->nserials - 1] = (struct serial_item){ ca, sn };
	}
	if (key_id != NULL) {
		size_t n = json_string_length(json_object_get(e, "key_id"));
		if (n > KB_KRL_KEY_ID_MAX || memchr(key_id, '\0', n) != NULL)
			return kb_err_set(KB_ERR_INVALID, "%s entry %zu: bad key id", KB_REVOCATIONS_SECRET, i + 1);
		if (push((void **)&c->ids, &c->nids, sizeof(*c->ids)) != KB_OK)
			return KB_ERR_NOMEM;
		c->ids[c->nids - 1] = (struct blob_item){ ca, (const uint8_t *)key_id, n, NULL };
	}
	if (key_line != NULL) {
		struct kb_key *k = NULL;
		if ((r = parse_line_key(key_line, &k)) != KB_OK)
			return kb_err_set(r, "%s entry %zu: bad key", KB_REVOCATIONS_SECRET, i + 1);
		if (push((void **)&c->keys, &c->nkeys, sizeof(*c->keys)) != KB_OK) {
			kb_key_free(k);
			return KB_ERR_NOMEM;
		}
		c->keys[c->nkeys - 1] = (struct blob_item){ 0, NULL, 0, k };
	}
	return KB_OK;
}

static int cmp_serial(const void *a, const void *b)
{
	const struct serial_item *x = a, *y = b;
	if (x->ca != y->ca)
		return x->ca < y->ca ? -1 : 1;
	return x->serial < y->serial ? -1 : x->serial > y->serial ? 1 : 0;
}

/* The KRL library's blob order: length, then bytes. */
static int cmp_blob(const void *a, const void *b)
{
	const struct blob_item *x = a, *y = b;
	if (x->ca != y->ca)
		return x->ca < y->ca ? -1 : 1;
	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	return x->n ? memcmp(x->p, y->p, x->n) : 0;
}

static int add_sorted(struct collect *c, struct kb_krl *krl)
{
	int r = KB_OK;

	if (c->nserials > 1)
		qsort(c->serials, c->nserials, sizeof(*c->serials), cmp_serial);
	for (size_t i = 0; i < c->nserials && r == KB_OK;) {
		size_t j = i;
		/* one range per run of consecutive serials */
		while (j + 1 < c->nserials && c->serials[j + 1].ca == c->serials[i].ca &&
		       c->serials[j + 1].serial <= c->serials[j].serial + 1)
			j++;
		r = kb_krl_revoke_serial_range(krl, c->cas[c->serials[i].ca], c->serials[i].serial, c->serials[j].serial);
		i = j + 1;
	}
	if (c->nids > 1)
		qsort(c->ids, c->nids, sizeof(*c->ids), cmp_blob);
	for (size_t i = 0; i < c->nids && r == KB_OK; i++) {
		char *id = kb_asprintf("%.*s", (int)c->ids[i].n, (const char *)c->ids[i].p);
		r = id ? kb_krl_revoke_key_id(krl, c->ids[i].ca == SIZE_MAX ? NULL : c->cas[c->ids[i].ca], id)
		       : KB_ERR_NOMEM;
		free(id);
	}
	/* plain keys: sort by their blobs */
	struct kb_buf *blobs = c->nkeys ? calloc(c->nkeys, sizeof(*blobs)) : NULL;
	if (c->nkeys && blobs == NULL)
		return KB_ERR_NOMEM;
	for (size_t i = 0; i < c->nkeys && r == KB_OK; i++) {
		kb_buf_init(&blobs[i], KB_KEY_BLOB_MAX);
		if ((r = kb_key_plain_blob(c->keys[i].key, &blobs[i])) == KB_OK) {
			c->keys[i].p = blobs[i].data;
			c->keys[i].n = blobs[i].len;
		}
	}
	if (r == KB_OK && c->nkeys > 1)
		qsort(c->keys, c->nkeys, sizeof(*c->keys), cmp_blob);
	for (size_t i = 0; i < c->nkeys && r == KB_OK; i++)
		r = kb_krl_revoke_key(krl, c->keys[i].key);
	for (size_t i = 0; i < c->nkeys; i++)
		kb_buf_done(&blobs[i]);
	free(blobs);
	return r;
}

int kb_revocations_build_krl(const json_t *doc, struct kb_krl *krl, size_t *ret_n)
{
	const json_t *entries = json_object_get(doc, "entries");
	struct collect c = { 0 };
	size_t i;
	json_t *e;
	int r = KB_OK;

	json_array_foreach(entries, i, e) {
		if ((r = collect_entry(&c, e, i)) != KB_OK)
			break;
	}
	if (r == KB_OK)
		r = add_sorted(&c, krl);
	if (r == KB_OK && ret_n)
		*ret_n = json_array_size(entries);
	for (i = 0; i < c.ncas; i++)
		kb_key_free(c.cas[i]);
	for (i = 0; i < c.nkeys; i++)
		kb_key_free(c.keys[i].key);
	free(c.cas);
	free(c.ca_lines);
	free(c.serials);
	free(c.ids);
	free(c.keys);
	return r;
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
