/* The Vault KV v2 backend.
 *
 * Why the stage map lives in versions: KV v2 offers check-and-set only on
 * data writes (options.cas); metadata writes (custom_metadata) are
 * last-writer-wins.  So every change of state - a new value or a stage move
 * - is one data write with cas = the newest version, and that newest
 * version's "keybroker" object (see vault_json.h) is the authoritative
 * stage map, idempotency tokens and list of value versions.  Two brokers
 * racing both read version L and write with cas=L: Vault accepts one, the
 * other gets a cas error, re-reads and re-applies its change on top.
 * Nothing is lost and nothing is half-written: a change is one request.
 *
 * promote writes a "stages" record holding a copy of the promoted value, so
 * that a plain `vault kv get` (which reads the newest version) shows the
 * current value after a promote.  After every change the stages are also
 * mirrored, advisory only, into the secret's custom_metadata
 * (keybroker-current/-pending/-previous, keybroker-state-version), and
 * cas_required is set so other writers must use cas too. */
#include "store/store.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "vault/vault_client.h"
#include "vault/vault_json.h"

#define CAS_ATTEMPTS 16

struct vault_store {
	struct kb_vault_client c;
};

static struct kb_vault_client *cli(struct kb_store *s)
{
	return &((struct vault_store *)s->impl)->c;
}

/* The newest version and its state.  *exists is false when Vault has no
 * version of the secret. */
static int read_latest(struct kb_vault_client *c, const char *name, struct kb_vault_record *rec, bool *exists)
{
	struct kb_http_response resp = { 0 };
	char *path = kb_vault_path(c, "data", name);
	int r;

	*exists = false;
	memset(rec, 0, sizeof(*rec));
	if (path == NULL)
		return KB_ERR_NOMEM;
	r = kb_vault_call(c, "GET", path, NULL, NULL, true, &resp);
	if (r == KB_ERR_NOT_FOUND) {
		/* A 404 that names a version: the newest one is deleted. */
		if (kb_vault_parse_record(kb_buf_ptr(&resp.body), kb_buf_remaining(&resp.body), rec) == KB_OK) {
			kb_vault_record_done(rec);
			r = kb_err_set(KB_ERR_BACKEND,
				       "the newest version of %s is deleted in Vault: undelete it "
				       "(vault kv undelete) or remove the secret", path);
		} else {
			r = KB_OK;
		}
		kb_err_clear_detail();
		goto out;
	}
	if (r != KB_OK)
		goto out;
	if ((r = kb_vault_parse_record(kb_buf_ptr(&resp.body), kb_buf_remaining(&resp.body), rec)) != KB_OK)
		goto out;
	*exists = true;
	if (!rec->state.present) {
		/* Written by another Vault client: its newest version is current. */
		rec->state.current = rec->version;
		rec->state.values[0] = rec->version;
		rec->state.nvalues = 1;
	}
out:
	free(path);
	kb_http_response_done(&resp);
	return r;
}

static int read_version(struct kb_vault_client *c, const char *name, uint64_t v, struct kb_vault_record *rec)
{
	struct kb_http_response resp = { 0 };
	char *path = kb_vault_path(c, "data", name);
	char q[40];
	int r;

	memset(rec, 0, sizeof(*rec));
	if (path == NULL)
		return KB_ERR_NOMEM;
	snprintf(q, sizeof(q), "version=%llu", (unsigned long long)v);
	r = kb_vault_call(c, "GET", path, q, NULL, true, &resp);
	if (r == KB_OK)
		r = kb_vault_parse_record(kb_buf_ptr(&resp.body), kb_buf_remaining(&resp.body), rec);
	if (r == KB_OK && (!rec->has_data || rec->state.stage_record)) {
		kb_vault_record_done(rec);
		r = KB_ERR_NOT_FOUND;
	}
	if (r == KB_ERR_NOT_FOUND)
		r = kb_err_set(r, "%s has no version %llu (or Vault deleted or destroyed it)", name,
			       (unsigned long long)v);
	free(path);
	kb_http_response_done(&resp);
	return r;
}

static int parse_version(const char *name, const char *s, uint64_t *ret)
{
	if (kb_parse_u64(s, KB_VAULT_VERSION_LIMIT - 1, ret) != KB_OK || *ret == 0)
		return kb_err_set(KB_ERR_NOT_FOUND, "%s has no version %.64s (Vault versions are numbers)", name, s);
	return KB_OK;
}

static bool has_value(const struct kb_vault_state *st, uint64_t v)
{
	for (size_t i = 0; i < st->nvalues; i++)
		if (st->values[i] == v)
			return true;
	return false;
}

static void add_value(struct kb_vault_state *st, uint64_t v)
{
	if (st->nvalues == KB_VAULT_MAX_VALUES) {
		/* Forget the oldest value version that holds no stage. */
		for (size_t i = 0; i < st->nvalues; i++) {
			uint64_t o = st->values[i];
			if (o != st->current && o != st->pending && o != st->previous) {
				memmove(&st->values[i], &st->values[i + 1], (st->nvalues - i - 1) * sizeof(o));
				st->nvalues--;
				break;
			}
		}
	}
	st->values[st->nvalues++] = v;
}

/* Advisory mirror of the stages in custom_metadata (see top). */
static void mirror(struct kb_vault_client *c, const char *name, const struct kb_vault_state *st, uint64_t at)
{
	struct kb_http_response resp = { 0 };
	struct kb_buf body;
	char *path = kb_vault_path(c, "metadata", name);
	char text[512];

	snprintf(text, sizeof(text),
		 "{\"cas_required\":true,\"custom_metadata\":{\"keybroker-current\":\"%llu\","
		 "\"keybroker-pending\":\"%llu\",\"keybroker-previous\":\"%llu\","
		 "\"keybroker-state-version\":\"%llu\"}}",
		 (unsigned long long)st->current, (unsigned long long)st->pending,
		 (unsigned long long)st->previous, (unsigned long long)at);
	kb_buf_init_ro(&body, text, strlen(text));
	if (path != NULL && kb_vault_call(c, "POST", path, NULL, &body, false, &resp) != KB_OK)
		kb_warn("could not update the stage mirror in %s's custom_metadata (advisory only): %s", name,
			kb_err_detail());
	free(path);
	kb_http_response_done(&resp);
}

/* Writes a new version with cas; KB_ERR_CONFLICT when someone was faster. */
static int commit(struct kb_vault_client *c, const char *name, const uint8_t *value, size_t len,
		  const struct kb_vault_state *st, uint64_t cas)
{
	struct kb_http_response resp = { 0 };
	struct kb_buf body;
	char *path = kb_vault_path(c, "data", name);
	uint64_t got = 0;
	int r;

	kb_buf_init_secure(&body, 4 * KB_VAULT_JSON_MAX);
	if (path == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	if ((r = kb_vault_build_write(value, len, st, cas, &body)) != KB_OK)
		goto out;
	if ((r = kb_vault_call(c, "POST", path, NULL, &body, false, &resp)) != KB_OK)
		goto out;
	if ((r = kb_vault_parse_write(kb_buf_ptr(&resp.body), kb_buf_remaining(&resp.body), &got)) != KB_OK)
		goto out;
	if (got != cas + 1)
		r = kb_err_set(KB_ERR_BACKEND, "Vault stored %s as version %llu, expected %llu", path,
			       (unsigned long long)got, (unsigned long long)cas + 1);
out:
	free(path);
	kb_buf_done(&body);
	kb_http_response_done(&resp);
	return r;
}

static void backoff(unsigned attempt)
{
	long ms = (long)randombytes_uniform(20u << (attempt < 4 ? attempt : 4)) + 5;
	struct timespec ts = { 0, ms * 1000000L };
	nanosleep(&ts, NULL);
}

static char *version_string(uint64_t v)
{
	return kb_asprintf("%llu", (unsigned long long)v);
}

static int put_impl(struct kb_store *s, const char *name, const uint8_t *value, size_t len,
		     const struct kb_store_put_opts *opts, char **ret_version)
{
	struct kb_vault_client *c = cli(s);
	char token[65];
	uint8_t sha[32];
	bool pending = opts != NULL && opts->stage == KB_STAGE_PENDING;
	int r = KB_OK;

	*ret_version = NULL;
	/* Every put carries a token, so a retried write that had in fact
	 * succeeded is recognised instead of written twice. */
	if (opts != NULL && opts->token != NULL) {
		if (strlen(opts->token) >= sizeof(token) || !kb_str_printable(opts->token))
			return kb_err_set(KB_ERR_INVALID, "idempotency token: at most 64 printable characters");
		kb_strlcpy(token, opts->token, sizeof(token));
	} else {
		uint8_t rnd[12];
		char hex[25];
		randombytes_buf(rnd, sizeof(rnd));
		sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
		snprintf(token, sizeof(token), "auto-%s", hex);
	}
	crypto_hash_sha256(sha, value, len);

	for (unsigned attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
		struct kb_vault_record rec;
		bool exists;
		if ((r = read_latest(c, name, &rec, &exists)) != KB_OK)
			return r;
		struct kb_vault_state st = rec.state;
		uint64_t latest = exists ? rec.version : 0;
		kb_vault_record_done(&rec);
		for (size_t i = 0; i < st.ntokens; i++) {
			if (strcmp(st.tokens[i].token, token) != 0)
				continue;
			if (sodium_memcmp(st.tokens[i].sha256, sha, sizeof(sha)) != 0)
				return kb_err_set(KB_ERR_CONFLICT,
						  "idempotency token %s was already used for %s with another value",
						  token, name);
			*ret_version = version_string(st.tokens[i].version);
			return *ret_version ? KB_OK : KB_ERR_NOMEM;
		}
		uint64_t nv = latest + 1;
		st.present = true;
		st.stage_record = false;
		st.copy_of = 0;
		add_value(&st, nv);
		if (pending) {
			st.pending = nv;
		} else {
			if (st.current)
				st.previous = st.current;
			st.current = nv;
		}
		if (st.ntokens == KB_VAULT_MAX_TOKENS) {
			memmove(&st.tokens[0], &st.tokens[1], (st.ntokens - 1) * sizeof(st.tokens[0]));
			st.ntokens--;
		}
		kb_strlcpy(st.tokens[st.ntokens].token, token, sizeof(st.tokens[0].token));
		st.tokens[st.ntokens].version = nv;
		memcpy(st.tokens[st.ntokens].sha256, sha, sizeof(sha));
		st.ntokens++;
		r = commit(c, name, value, len, &st, latest);
		if (r == KB_ERR_CONFLICT) {
			kb_debug("put %s: cas %llu lost a race, retrying", name, (unsigned long long)latest);
			backoff(attempt);
			continue;
		}
		if (r != KB_OK)
			return r;
		mirror(c, name, &st, nv);
		*ret_version = version_string(nv);
		return *ret_version ? KB_OK : KB_ERR_NOMEM;
	}
	return kb_err_set(KB_ERR_CONFLICT, "%s kept changing under %u attempts to write it: try again", name,
			  CAS_ATTEMPTS);
}

static const char *stage_word(enum kb_stage s)
{
	return s == KB_STAGE_PENDING ? "pending" : s == KB_STAGE_PREVIOUS ? "previous" : "current";
}

static void names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void info_free(struct kb_secret_info *info)
{
	if (info == NULL)
		return;
	free(info->name);
	free(info->versions);
	free(info);
}

static uint64_t stage_version(const struct kb_vault_state *st, enum kb_stage stage)
{
	switch (stage) {
	case KB_STAGE_PENDING:
		return st->pending;
	case KB_STAGE_PREVIOUS:
		return st->previous;
	default:
		return st->current;
	}
}

static int get_impl(struct kb_store *s, const char *name, const struct kb_store_sel *sel, struct kb_buf *out,
		     char **ret_version)
{
	struct kb_vault_client *c = cli(s);
	struct kb_vault_record rec;
	uint64_t want;
	bool exists;
	int r;

	*ret_version = NULL;
	if (sel != NULL && sel->version != NULL) {
		if ((r = parse_version(name, sel->version, &want)) != KB_OK)
			return r;
		if ((r = read_version(c, name, want, &rec)) != KB_OK)
			return r;
	} else {
		enum kb_stage stage = sel != NULL && sel->stage ? sel->stage : KB_STAGE_CURRENT;
		if ((r = read_latest(c, name, &rec, &exists)) != KB_OK)
			return r;
		if (!exists)
			return kb_err_set(KB_ERR_NOT_FOUND, "no secret %s in Vault mount %s", name, c->mount);
		want = stage_version(&rec.state, stage);
		if (want == 0) {
			kb_vault_record_done(&rec);
			return kb_err_set(KB_ERR_NOT_FOUND, "%s has no %s version", name, stage_word(stage));
		}
		bool here = rec.state.stage_record ? rec.state.copy_of == want : rec.version == want;
		if (!here) {
			kb_vault_record_done(&rec);
			if ((r = read_version(c, name, want, &rec)) != KB_OK)
				return r;
		}
	}
	if (kb_buf_remaining(&rec.value) > KB_STORE_VALUE_MAX)
		r = kb_err_set(KB_ERR_TOO_LARGE, "%s in Vault is over %u bytes", name, KB_STORE_VALUE_MAX);
	else
		r = kb_buf_put(out, kb_buf_ptr(&rec.value), kb_buf_remaining(&rec.value));
	kb_vault_record_done(&rec);
	if (r == KB_OK && (*ret_version = version_string(want)) == NULL)
		r = KB_ERR_NOMEM;
	return r;
}

/* ret_version may be NULL (store.h). */
static int vault_put(struct kb_store *s, const char *name, const uint8_t *value, size_t len,
		     const struct kb_store_put_opts *opts, char **ret_version)
{
	char *v = NULL;
	int r = put_impl(s, name, value, len, opts, &v);
	if (ret_version != NULL)
		*ret_version = v;
	else
		free(v);
	return r;
}

static int vault_get(struct kb_store *s, const char *name, const struct kb_store_sel *sel, struct kb_buf *out,
		     char **ret_version)
{
	char *v = NULL;
	int r = get_impl(s, name, sel, out, &v);
	if (ret_version != NULL)
		*ret_version = v;
	else
		free(v);
	return r;
}

static int vault_promote(struct kb_store *s, const char *name, const char *version)
{
	struct kb_vault_client *c = cli(s);
	uint64_t v;
	int r;

	if ((r = parse_version(name, version, &v)) != KB_OK)
		return r;
	for (unsigned attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
		struct kb_vault_record rec, old;
		bool exists;
		if ((r = read_latest(c, name, &rec, &exists)) != KB_OK)
			return r;
		if (!exists)
			return kb_err_set(KB_ERR_NOT_FOUND, "no secret %s in Vault mount %s", name, c->mount);
		struct kb_vault_state st = rec.state;
		uint64_t latest = rec.version;
		if (!has_value(&st, v)) {
			kb_vault_record_done(&rec);
			return kb_err_set(KB_ERR_NOT_FOUND, "%s has no version %s", name, version);
		}
		if (st.current == v && st.pending != v) {
			kb_vault_record_done(&rec);
			return KB_OK;
		}
		/* The promoted value, for the copy in the stages record. */
		bool here = st.stage_record ? st.copy_of == v : latest == v;
		const struct kb_vault_record *src = &rec;
		if (!here) {
			if ((r = read_version(c, name, v, &old)) != KB_OK) {
				kb_vault_record_done(&rec);
				return r;
			}
			src = &old;
		}
		if (st.current != v) {
			st.previous = st.current;
			st.current = v;
		}
		if (st.pending == v)
			st.pending = 0;
		st.present = true;
		st.stage_record = true;
		st.copy_of = v;
		r = commit(c, name, kb_buf_ptr(&src->value), kb_buf_remaining(&src->value), &st, latest);
		if (!here)
			kb_vault_record_done(&old);
		kb_vault_record_done(&rec);
		if (r == KB_ERR_CONFLICT) {
			backoff(attempt);
			continue;
		}
		if (r == KB_OK)
			mirror(c, name, &st, latest + 1);
		return r;
	}
	return kb_err_set(KB_ERR_CONFLICT, "%s kept changing under %u attempts to promote: try again", name,
			  CAS_ATTEMPTS);
}

static int get_metadata(struct kb_vault_client *c, const char *name, struct kb_vault_meta *meta)
{
	struct kb_http_response resp = { 0 };
	char *path = kb_vault_path(c, "metadata", name);
	int r;

	memset(meta, 0, sizeof(*meta));
	if (path == NULL)
		return KB_ERR_NOMEM;
	r = kb_vault_call(c, "GET", path, NULL, NULL, false, &resp);
	if (r == KB_ERR_NOT_FOUND)
		r = kb_err_set(r, "no secret %s in Vault mount %s", name, c->mount);
	if (r == KB_OK)
		r = kb_vault_parse_metadata(kb_buf_ptr(&resp.body), kb_buf_remaining(&resp.body), meta);
	free(path);
	kb_http_response_done(&resp);
	return r;
}

static int vault_describe(struct kb_store *s, const char *name, struct kb_secret_info **ret)
{
	struct kb_vault_client *c = cli(s);
	struct kb_vault_meta meta;
	struct kb_vault_record rec;
	struct kb_secret_info *info = NULL;
	bool exists;
	int r;

	*ret = NULL;
	memset(&rec, 0, sizeof(rec));
	if ((r = get_metadata(c, name, &meta)) != KB_OK)
		return r;
	if ((r = read_latest(c, name, &rec, &exists)) != KB_OK)
		goto out;
	struct kb_vault_state *st = &rec.state;
	if ((info = calloc(1, sizeof(*info))) == NULL ||
	    (info->versions = calloc(meta.nversions + 1, sizeof(*info->versions))) == NULL ||
	    (info->name = kb_strdup(name)) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	info->created = meta.created;
	info->updated = meta.updated;
	for (size_t i = 0; i < meta.nversions; i++) {
		const struct kb_vault_meta_version *mv = &meta.versions[i];
		struct kb_version_info *vi = &info->versions[info->nversions];
		if (mv->deleted || mv->destroyed)
			continue;
		/* Keybroker secrets list their value versions; for others,
		 * every live version is one. */
		if (exists && rec.state.present && !has_value(st, mv->version))
			continue;
		snprintf(vi->id, sizeof(vi->id), "%llu", (unsigned long long)mv->version);
		vi->created = mv->created;
		vi->stages = (st->current == mv->version ? KB_STAGE_CURRENT : 0) |
			     (st->pending == mv->version ? KB_STAGE_PENDING : 0) |
			     (st->previous == mv->version ? KB_STAGE_PREVIOUS : 0);
		info->nversions++;
	}
	*ret = info;
	info = NULL;
out:
	kb_vault_record_done(&rec);
	info_free(info);
	kb_vault_meta_done(&meta);
	return r;
}

struct name_list {
	char **v;
	size_t n, cap;
};

static int list_dir(struct kb_vault_client *c, const char *prefix, const char *dir, unsigned depth,
		    struct name_list *out)
{
	struct kb_http_response resp = { 0 };
	char *path = kb_vault_path(c, "metadata", dir);
	char **keys = NULL;
	size_t nkeys = 0;
	int r;

	if (path == NULL)
		return KB_ERR_NOMEM;
	if (depth > 64) {
		free(path);
		return kb_err_set(KB_ERR_LIMIT, "Vault folders nest deeper than 64 levels under %s", prefix);
	}
	r = kb_vault_call(c, "GET", path, "list=true", NULL, false, &resp);
	if (r == KB_ERR_NOT_FOUND) {
		kb_err_clear_detail();
		r = KB_OK;
		goto out;
	}
	if (r != KB_OK ||
	    (r = kb_vault_parse_list(kb_buf_ptr(&resp.body), kb_buf_remaining(&resp.body), &keys, &nkeys)) != KB_OK)
		goto out;
	for (size_t i = 0; i < nkeys && r == KB_OK; i++) {
		char *full = kb_asprintf("%s%s", dir, keys[i]);
		size_t fl = full ? strlen(full) : 0;
		if (full == NULL) {
			r = KB_ERR_NOMEM;
			break;
		}
		if (fl > KB_STORE_NAME_MAX + 1) {
			free(full);
			continue;
		}
		bool folder = full[fl - 1] == '/';
		if (folder) {
			if (strncmp(full, prefix, strlen(prefix) < fl ? strlen(prefix) : fl) == 0)
				r = list_dir(c, prefix, full, depth + 1, out);
			free(full);
			continue;
		}
		if (strncmp(full, prefix, strlen(prefix)) != 0) {
			free(full);
			continue;
		}
		if (out->n == out->cap) {
			size_t nc = out->cap ? out->cap * 2 : 64;
			char **nv = nc <= 1000000 ? realloc(out->v, nc * sizeof(*nv)) : NULL;
			if (nv == NULL) {
				free(full);
				r = nc > 1000000 ? kb_err_set(KB_ERR_LIMIT, "more than a million secrets under %s", prefix)
						 : KB_ERR_NOMEM;
				break;
			}
			out->v = nv;
			out->cap = nc;
		}
		out->v[out->n++] = full;
	}
out:
	for (size_t i = 0; i < nkeys; i++)
		free(keys[i]);
	free(keys);
	free(path);
	kb_http_response_done(&resp);
	return r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int vault_list(struct kb_store *s, const char *prefix, char ***ret_names, size_t *ret_n)
{
	struct name_list out = { 0 };
	const char *p = prefix ? prefix : "";
	const char *slash = strrchr(p, '/');
	char *dir = kb_asprintf("%.*s", slash ? (int)(slash - p + 1) : 0, p);
	int r;

	*ret_names = NULL;
	*ret_n = 0;
	if (dir == NULL)
		return KB_ERR_NOMEM;
	r = list_dir(cli(s), p, dir, 0, &out);
	free(dir);
	if (r != KB_OK) {
		names_free(out.v, out.n);
		return r;
	}
	qsort(out.v, out.n, sizeof(*out.v), cmp_str);
	*ret_names = out.v;
	*ret_n = out.n;
	return KB_OK;
}

static int vault_remove(struct kb_store *s, const char *name)
{
	struct kb_vault_client *c = cli(s);
	struct kb_http_response resp = { 0 };
	struct kb_vault_meta meta;
	char *path;
	int r;

	if ((r = get_metadata(c, name, &meta)) != KB_OK)
		return r;
	kb_vault_meta_done(&meta);
	if ((path = kb_vault_path(c, "metadata", name)) == NULL)
		return KB_ERR_NOMEM;
	r = kb_vault_call(c, "DELETE", path, NULL, NULL, false, &resp);
	free(path);
	kb_http_response_done(&resp);
	return r;
}

static void vault_close(struct kb_store *s)
{
	if (s == NULL)
		return;
	struct vault_store *vs = s->impl;
	if (vs != NULL)
		kb_vault_client_done(&vs->c);
	free(vs);
	free(s);
}

static const struct kb_store_ops vault_ops = {
	.name = "vault",
	.put = vault_put,
	.get = vault_get,
	.promote = vault_promote,
	.list = vault_list,
	.describe = vault_describe,
	.remove = vault_remove,
	.close = vault_close,
};

int kb_store_vault_open(const struct kb_config *cfg, struct kb_store **ret)
{
	struct kb_store *s = calloc(1, sizeof(*s));
	struct vault_store *vs = calloc(1, sizeof(*vs));
	int r;

	*ret = NULL;
	if (s == NULL || vs == NULL) {
		free(s);
		free(vs);
		return KB_ERR_NOMEM;
	}
	if ((r = kb_vault_client_init(&vs->c, cfg)) != KB_OK) {
		free(s);
		free(vs);
		return r;
	}
	s->ops = &vault_ops;
	s->impl = vs;
	*ret = s;
	return KB_OK;
}
