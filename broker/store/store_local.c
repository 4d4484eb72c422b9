/* The embedded local store: one directory, every file sealed with
 * XChaCha20-Poly1305 under keys derived from a master key.  Formats are in
 * store_local.h, keys and key files in store_local_keys.c; this file has the
 * locking and the semantics of store.h. */
#include "store/store_local_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "store/store.h"

struct local {
	char *dir;
	char *secrets;
	int lock_fd;
	struct local_keys *keys; /* guarded memory, read-only between uses */
};

/* One secret's location: H as raw bytes and hex, and its directory. */
struct where {
	uint8_t id[32];
	char hex[65];
	char *path;
};

static struct local *L(struct kb_store *s)
{
	return s->impl;
}

/* ---- locking ---- */

static int lock(struct local *l, int op)
{
	while (flock(l->lock_fd, op) != 0) {
		if (errno != EINTR)
			return kb_err_errno("lock the local store");
	}
	return KB_OK;
}

static void unlock(struct local *l)
{
	flock(l->lock_fd, LOCK_UN);
}

/* ---- secrets ---- */

static int locate(struct local *l, const char *name, struct where *w)
{
	static const char hexd[] = "0123456789abcdef";

	if (crypto_generichash(w->id, sizeof(w->id), (const uint8_t *)name, strlen(name), l->keys->name,
			       sizeof(l->keys->name)) != 0)
		return KB_ERR_CRYPTO;
	for (size_t i = 0; i < sizeof(w->id); i++) {
		w->hex[2 * i] = hexd[w->id[i] >> 4];
		w->hex[2 * i + 1] = hexd[w->id[i] & 15];
	}
	w->hex[64] = '\0';
	w->path = kb_asprintf("%s/%s", l->secrets, w->hex);
	return w->path ? KB_OK : KB_ERR_NOMEM;
}

static int tampered(const char *what, const char *name, const char *path)
{
	return kb_err_set(KB_ERR_SIGNATURE,
			  "%s of secret %s failed authentication: %s was tampered with, truncated or swapped; "
			  "restore the store from backup",
			  what, name, path);
}

/* Reads and authenticates the metadata in directory path (id = its H).
 * name may be NULL (listing); then the name inside must still hash to id. */
static int read_meta(struct local *l, const char *dirpath, const uint8_t id[32], const char *name,
		     struct kb_local_meta **ret)
{
	char *path = kb_asprintf("%s/meta", dirpath);
	struct kb_buf file, pt;
	struct kb_local_meta *m = NULL;
	uint8_t check[32];
	int r;

	*ret = NULL;
	kb_buf_init(&file, KB_LOCAL_META_MAX + KB_LOCAL_OVERHEAD);
	kb_buf_init(&pt, KB_LOCAL_META_MAX);
	if (path == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	r = kb_local_read_capped(path, KB_LOCAL_META_MAX + KB_LOCAL_OVERHEAD, &file);
	if (r == KB_ERR_NOT_FOUND) {
		r = name ? kb_err_set(KB_ERR_NOT_FOUND, "no secret named %s", name) : KB_ERR_NOT_FOUND;
		goto out;
	}
	if (r == KB_ERR_TOO_LARGE) {
		r = tampered("metadata", name ? name : "?", path);
		goto out;
	}
	if (r != KB_OK)
		goto out;
	r = kb_local_unseal(l->keys->enc, KB_LOCAL_KIND_META, id, 32, kb_buf_ptr(&file), kb_buf_remaining(&file),
			    &pt);
	if (r == KB_OK)
		r = kb_local_meta_parse(kb_buf_ptr(&pt), kb_buf_remaining(&pt), &m);
	if (r == KB_OK && (crypto_generichash(check, 32, (const uint8_t *)m->name, strlen(m->name), l->keys->name,
					      32) != 0 ||
			   memcmp(check, id, 32) != 0 || (name && strcmp(name, m->name) != 0)))
		r = KB_ERR_SIGNATURE;
	if (r == KB_ERR_NOMEM)
		goto out;
	if (r != KB_OK) {
		r = tampered("metadata", name ? name : "?", path);
		goto out;
	}
	*ret = m;
	m = NULL;
out:
	kb_local_meta_free(m);
	kb_buf_done(&file);
	kb_buf_done(&pt);
	free(path);
	return r;
}

static int write_meta(struct local *l, const struct where *w, const struct kb_local_meta *m)
{
	struct kb_buf pt, file;
	char *path = kb_asprintf("%s/meta", w->path);
	int r;

	kb_buf_init(&pt, KB_LOCAL_META_MAX);
	kb_buf_init(&file, KB_LOCAL_META_MAX + KB_LOCAL_OVERHEAD);
	if (path == NULL)
		r = KB_ERR_NOMEM;
	else if ((r = kb_local_meta_encode(m, &pt)) == KB_OK)
		r = kb_local_seal(l->keys->enc, KB_LOCAL_KIND_META, w->id, 32, kb_buf_ptr(&pt), kb_buf_remaining(&pt),
				  &file);
	if (r == KB_OK)
		r = kb_write_file_atomic(path, kb_buf_ptr(&file), kb_buf_remaining(&file), 0600, false);
	kb_buf_done(&pt);
	kb_buf_done(&file);
	free(path);
	return r;
}

static int value_binding(const struct kb_local_meta *m, uint32_t num, struct kb_buf *b)
{
	int r;
	if ((r = kb_buf_put(b, m->secret_id, KB_LOCAL_ID_LEN)) || (r = kb_buf_put_u32(b, num)) ||
	    (r = kb_buf_put(b, m->name, strlen(m->name))))
		return r;
	return KB_OK;
}

static char *version_path(const struct where *w, uint32_t num)
{
	return kb_asprintf("%s/v%u", w->path, (unsigned)num);
}

/* Reads version v, checks it against the metadata and decrypts it into
 * out (appended; nothing appended on error). */
static int read_value(struct local *l, const struct where *w, const struct kb_local_meta *m,
		      const struct kb_local_version *v, struct kb_buf *out)
{
	char *path = version_path(w, v->num);
	struct kb_buf file, bind;
	uint8_t hash[KB_LOCAL_HASH_LEN];
	int r;

	kb_buf_init(&file, KB_STORE_VALUE_MAX + KB_LOCAL_OVERHEAD);
	kb_buf_init(&bind, KB_STORE_NAME_MAX + 64);
	if (path == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	r = kb_local_read_capped(path, KB_STORE_VALUE_MAX + KB_LOCAL_OVERHEAD, &file);
	if (r == KB_ERR_NOT_FOUND) {
		r = kb_err_set(KB_ERR_SIGNATURE, "version %u of secret %s is missing (%s); restore the store from backup",
			       (unsigned)v->num, m->name, path);
		goto out;
	}
	if (r == KB_ERR_TOO_LARGE) {
		r = tampered("a version", m->name, path);
		goto out;
	}
	if (r != KB_OK)
		goto out;
	crypto_generichash(hash, sizeof(hash), kb_buf_ptr(&file), kb_buf_remaining(&file), NULL, 0);
	if (memcmp(hash, v->file_hash, sizeof(hash)) != 0) {
		r = tampered("a version", m->name, path);
		goto out;
	}
	if ((r = value_binding(m, v->num, &bind)))
		goto out;
	r = kb_local_unseal(l->keys->enc, KB_LOCAL_KIND_VALUE, kb_buf_ptr(&bind), kb_buf_remaining(&bind),
			    kb_buf_ptr(&file), kb_buf_remaining(&file), out);
	if (r == KB_ERR_SIGNATURE)
		r = tampered("a version", m->name, path);
out:
	kb_buf_done(&file);
	kb_buf_done(&bind);
	free(path);
	return r;
}

static struct kb_local_version *find_stage(struct kb_local_meta *m, unsigned stage)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].stages & stage)
			return &m->v[i];
	return NULL;
}

static struct kb_local_version *find_version(struct kb_local_meta *m, const char *id)
{
	uint64_t num;
	if (kb_parse_u64(id, UINT32_MAX, &num) != KB_OK)
		return NULL;
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].num == num)
			return &m->v[i];
	return NULL;
}

static void clear_stage(struct kb_local_meta *m, unsigned stage)
{
	for (size_t i = 0; i < m->n; i++)
		m->v[i].stages &= ~stage;
}

/* Makes v current: the old current becomes previous, pending leaves v. */
static void make_current(struct kb_local_meta *m, struct kb_local_version *v)
{
	struct kb_local_version *cur = find_stage(m, KB_STAGE_CURRENT);

	if (cur != v) {
		clear_stage(m, KB_STAGE_PREVIOUS);
		if (cur != NULL)
			cur->stages = (cur->stages & ~(unsigned)KB_STAGE_CURRENT) | KB_STAGE_PREVIOUS;
	}
	v->stages = (v->stages | KB_STAGE_CURRENT) & ~(unsigned)(KB_STAGE_PENDING | KB_STAGE_PREVIOUS);
}

static char *version_id(uint32_t num)
{
	return kb_asprintf("%u", (unsigned)num);
}

static int64_t now(void)
{
	return (int64_t)time(NULL);
}

/* Drops the oldest versions without a stage beyond the keep limit; their
 * numbers are returned so the files can go once the metadata is written. */
static size_t prune(struct kb_local_meta *m, uint32_t *gone, size_t max)
{
	size_t unstaged = 0, ngone = 0;

	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].stages == 0)
			unstaged++;
	size_t j = 0;
	for (size_t i = 0; i < m->n; i++) {
		if (m->v[i].stages == 0 && unstaged > KB_LOCAL_KEEP_VERSIONS && ngone < max) {
			gone[ngone++] = m->v[i].num;
			unstaged--;
			continue;
		}
		m->v[j++] = m->v[i];
	}
	m->n = j;
	return ngone;
}

static int new_meta(const char *name, const char *description, struct kb_local_meta **ret)
{
	struct kb_local_meta *m = calloc(1, sizeof(*m));

	*ret = NULL;
	if (m == NULL)
		return KB_ERR_NOMEM;
	m->name = kb_strdup(name);
	m->description = kb_strdup(description ? description : "");
	if (m->name == NULL || m->description == NULL) {
		kb_local_meta_free(m);
		return KB_ERR_NOMEM;
	}
	randombytes_buf(m->secret_id, sizeof(m->secret_id));
	m->created = m->updated = now();
	m->next_version = 1;
	*ret = m;
	return KB_OK;
}

/* Same token: the same value gives the version already made. */
static int check_token(struct local *l, const struct where *w, struct kb_local_meta *m, const char *token,
		       const uint8_t *value, size_t len, char **ret_version)
{
	struct kb_buf old;
	int r;

	for (size_t i = 0; i < m->n; i++) {
		struct kb_local_version *v = &m->v[i];
		if (v->token[0] == '\0' || strcmp(v->token, token) != 0)
			continue;
		kb_buf_init_secure(&old, KB_STORE_VALUE_MAX);
		r = read_value(l, w, m, v, &old);
		if (r == KB_OK) {
			bool same = kb_buf_remaining(&old) == len && (len == 0 || kb_ct_equal(kb_buf_ptr(&old), value, len));
			if (!same)
				r = kb_err_set(KB_ERR_CONFLICT,
					       "idempotency token '%s' of secret %s was used for version %u with "
					       "another value; use a new token",
					       token, m->name, (unsigned)v->num);
			else if (ret_version && (*ret_version = version_id(v->num)) == NULL)
				r = KB_ERR_NOMEM;
		}
		kb_buf_done(&old);
		return r == KB_OK ? 1 : r;
	}
	return 0;
}

static int local_put(struct kb_store *s, const char *name, const uint8_t *value, size_t len,
		     const struct kb_store_put_opts *opts, char **ret_version)
{
	struct local *l = L(s);
	struct where w = { 0 };
	struct kb_local_meta *m = NULL;
	struct kb_buf file, bind;
	char *vpath = NULL;
	uint32_t gone[8];
	size_t ngone = 0;
	int r;

	kb_buf_init(&file, KB_STORE_VALUE_MAX + KB_LOCAL_OVERHEAD);
	kb_buf_init(&bind, KB_STORE_NAME_MAX + 64);
	if ((r = locate(l, name, &w)) || (r = lock(l, LOCK_EX)))
		goto out_nolock;
	r = read_meta(l, w.path, w.id, name, &m);
	if (r == KB_ERR_NOT_FOUND) {
		kb_err_clear_detail();
		if ((r = new_meta(name, opts->description, &m)) || (r = kb_local_mkdir_private(w.path)))
			goto out;
	} else if (r != KB_OK) {
		goto out;
	}
	if (opts->token != NULL && (r = check_token(l, &w, m, opts->token, value, len, ret_version)) != 0) {
		if (r == 1)
			r = KB_OK;
		goto out;
	}
	if (m->n >= KB_LOCAL_VERSIONS_MAX || m->next_version == UINT32_MAX) {
		r = kb_err_set(KB_ERR_LIMIT, "secret %s has too many versions; promote or delete some", name);
		goto out;
	}
	struct kb_local_version *nv = realloc(m->v, (m->n + 1) * sizeof(*m->v));
	if (nv == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	m->v = nv;
	struct kb_local_version *v = &m->v[m->n++];
	memset(v, 0, sizeof(*v));
	v->num = m->next_version++;
	v->created = m->updated = now();
	if (opts->token)
		kb_strlcpy(v->token, opts->token, sizeof(v->token));
	if ((r = value_binding(m, v->num, &bind)) ||
	    (r = kb_local_seal(l->keys->enc, KB_LOCAL_KIND_VALUE, kb_buf_ptr(&bind), kb_buf_remaining(&bind), value,
			       len, &file)))
		goto out;
	crypto_generichash(v->file_hash, sizeof(v->file_hash), kb_buf_ptr(&file), kb_buf_remaining(&file), NULL, 0);
	if ((vpath = version_path(&w, v->num)) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	/* The version file first: until the metadata names it, it is ignored
	 * (and overwritten by the next put after a crash). */
	if ((r = kb_write_file_atomic(vpath, kb_buf_ptr(&file), kb_buf_remaining(&file), 0600, false)))
		goto out;
	uint32_t num = v->num;
	if (opts->stage == KB_STAGE_PENDING) {
		clear_stage(m, KB_STAGE_PENDING);
		v->stages = KB_STAGE_PENDING;
	} else {
		make_current(m, v);
	}
	ngone = prune(m, gone, KB_ARRAY_SIZE(gone));
	if ((r = write_meta(l, &w, m))) {
		unlink(vpath);
		goto out;
	}
	for (size_t i = 0; i < ngone; i++) {
		char *p = version_path(&w, gone[i]);
		if (p)
			unlink(p);
		free(p);
	}
	if (ret_version && (*ret_version = version_id(num)) == NULL)
		r = KB_ERR_NOMEM;
out:
	unlock(l);
out_nolock:
	kb_local_meta_free(m);
	kb_buf_done(&file);
	kb_buf_done(&bind);
	free(vpath);
	free(w.path);
	return r;
}

static int local_get(struct kb_store *s, const char *name, const struct kb_store_sel *sel,
		     struct kb_buf *out, char **ret_version)
{
	struct local *l = L(s);
	struct where w = { 0 };
	struct kb_local_meta *m = NULL;
	struct kb_local_version *v;
	int r;

	if ((r = locate(l, name, &w)) || (r = lock(l, LOCK_SH)))
		goto out_nolock;
	if ((r = read_meta(l, w.path, w.id, name, &m)))
		goto out;
	if (sel->version != NULL) {
		if ((v = find_version(m, sel->version)) == NULL) {
			r = kb_err_set(KB_ERR_NOT_FOUND, "secret %s has no version %s", name, sel->version);
			goto out;
		}
	} else if ((v = find_stage(m, sel->stage)) == NULL) {
		r = kb_err_set(KB_ERR_NOT_FOUND, "secret %s has no %s version", name, kb_stage_name(sel->stage));
		goto out;
	}
	if ((r = read_value(l, &w, m, v, out)))
		goto out;
	if (ret_version && (*ret_version = version_id(v->num)) == NULL)
		r = KB_ERR_NOMEM;
out:
	unlock(l);
out_nolock:
	kb_local_meta_free(m);
	free(w.path);
	return r;
}

static int local_promote(struct kb_store *s, const char *name, const char *version)
{
	struct local *l = L(s);
	struct where w = { 0 };
	struct kb_local_meta *m = NULL;
	struct kb_local_version *v;
	struct kb_buf check;
	int r;

	kb_buf_init_secure(&check, KB_STORE_VALUE_MAX);
	if ((r = locate(l, name, &w)) || (r = lock(l, LOCK_EX)))
		goto out_nolock;
	if ((r = read_meta(l, w.path, w.id, name, &m)))
		goto out;
	if ((v = find_version(m, version)) == NULL) {
		r = kb_err_set(KB_ERR_NOT_FOUND, "secret %s has no version %s", name, version);
		goto out;
	}
	if (v->stages == KB_STAGE_CURRENT)
		goto out; /* already current and not pending: nothing to do */
	/* Never make a damaged version current. */
	if ((r = read_value(l, &w, m, v, &check)))
		goto out;
	make_current(m, v);
	m->updated = now();
	r = write_meta(l, &w, m);
out:
	unlock(l);
out_nolock:
	kb_buf_done(&check);
	kb_local_meta_free(m);
	free(w.path);
	return r;
}

static bool is_hex64(const char *s)
{
	size_t i;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == 64;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int local_list(struct kb_store *s, const char *prefix, char ***ret_names, size_t *ret_n)
{
	struct local *l = L(s);
	char **names = NULL;
	size_t n = 0, cap = 0;
	DIR *d = NULL;
	struct dirent *de;
	int r;

	if ((r = lock(l, LOCK_SH)))
		return r;
	if ((d = opendir(l->secrets)) == NULL) {
		r = errno == ENOENT ? KB_OK : kb_err_errno(l->secrets);
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		if (!is_hex64(de->d_name))
			continue; /* ".", "..", deleted secrets, temp files */
		struct where w = { 0 };
		struct kb_local_meta *m = NULL;
		for (size_t i = 0; i < 32; i++) {
			unsigned hi = (unsigned)(de->d_name[2 * i] <= '9' ? de->d_name[2 * i] - '0' : de->d_name[2 * i] - 'a' + 10);
			unsigned lo = (unsigned)(de->d_name[2 * i + 1] <= '9' ? de->d_name[2 * i + 1] - '0'
									      : de->d_name[2 * i + 1] - 'a' + 10);
			w.id[i] = (uint8_t)(hi << 4 | lo);
		}
		if ((w.path = kb_asprintf("%s/%s", l->secrets, de->d_name)) == NULL) {
			r = KB_ERR_NOMEM;
			goto out;
		}
		r = read_meta(l, w.path, w.id, NULL, &m);
		free(w.path);
		if (r == KB_ERR_NOT_FOUND) {
			r = KB_OK; /* created but never written (crash): absent */
			continue;
		}
		if (r != KB_OK)
			goto out;
		if (prefix && strncmp(m->name, prefix, strlen(prefix)) != 0) {
			kb_local_meta_free(m);
			continue;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			char **nn = realloc(names, nc * sizeof(*names));
			if (nn == NULL) {
				kb_local_meta_free(m);
				r = KB_ERR_NOMEM;
				goto out;
			}
			names = nn;
			cap = nc;
		}
		names[n++] = m->name;
		m->name = NULL;
		kb_local_meta_free(m);
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
out:
	if (d)
		closedir(d);
	unlock(l);
	if (r != KB_OK) {
		kb_store_names_free(names, n);
		return r;
	}
	*ret_names = names;
	*ret_n = n;
	return KB_OK;
}

static int local_describe(struct kb_store *s, const char *name, struct kb_secret_info **ret)
{
	struct local *l = L(s);
	struct where w = { 0 };
	struct kb_local_meta *m = NULL;
	struct kb_secret_info *info = NULL;
	int r;

	if ((r = locate(l, name, &w)) || (r = lock(l, LOCK_SH)))
		goto out_nolock;
	if ((r = read_meta(l, w.path, w.id, name, &m)))
		goto out;
	if ((info = calloc(1, sizeof(*info))) == NULL || (info->name = kb_strdup(m->name)) == NULL ||
	    (m->n && (info->versions = calloc(m->n, sizeof(*info->versions))) == NULL)) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	info->created = m->created;
	info->updated = m->updated;
	info->nversions = m->n;
	for (size_t i = 0; i < m->n; i++) {
		snprintf(info->versions[i].id, sizeof(info->versions[i].id), "%u", (unsigned)m->v[i].num);
		info->versions[i].stages = m->v[i].stages;
		info->versions[i].created = m->v[i].created;
	}
	*ret = info;
	info = NULL;
out:
	unlock(l);
out_nolock:
	kb_secret_info_free(info);
	kb_local_meta_free(m);
	free(w.path);
	return r;
}

static void remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			char *p = kb_asprintf("%s/%s", path, de->d_name);
			if (p)
				unlink(p);
			free(p);
		}
		closedir(d);
	}
	rmdir(path);
}

/* Removes what a deletion interrupted by a crash left behind. */
static void sweep_graves(struct local *l)
{
	DIR *d = opendir(l->secrets);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, ".deleted-", 9) != 0)
			continue;
		char *p = kb_asprintf("%s/%s", l->secrets, de->d_name);
		if (p)
			remove_tree(p);
		free(p);
	}
	closedir(d);
}

static int local_remove(struct kb_store *s, const char *name)
{
	struct local *l = L(s);
	struct where w = { 0 };
	struct kb_local_meta *m = NULL;
	char *grave = NULL;
	uint8_t rnd[8];
	int r;

	if ((r = locate(l, name, &w)) || (r = lock(l, LOCK_EX)))
		goto out_nolock;
	/* Deleting needs the metadata to authenticate: a damaged secret is
	 * reported, not silently removed. */
	if ((r = read_meta(l, w.path, w.id, name, &m)))
		goto out;
	randombytes_buf(rnd, sizeof(rnd));
	grave = kb_asprintf("%s/.deleted-%02x%02x%02x%02x%02x%02x%02x%02x", l->secrets, rnd[0], rnd[1], rnd[2],
			    rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	if (grave == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	/* One rename makes the deletion atomic; the rest is cleanup. */
	if (rename(w.path, grave) != 0) {
		r = kb_err_errno(w.path);
		goto out;
	}
	int dfd = open(l->secrets, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	remove_tree(grave);
	sweep_graves(l);
out:
	unlock(l);
out_nolock:
	kb_local_meta_free(m);
	free(grave);
	free(w.path);
	return r;
}

static void local_close(struct kb_store *s)
{
	struct local *l = s ? L(s) : NULL;

	if (l != NULL) {
		if (l->lock_fd >= 0)
			close(l->lock_fd);
		if (l->keys != NULL)
			sodium_free(l->keys);
		free(l->dir);
		free(l->secrets);
		free(l);
	}
	free(s);
}

static const struct kb_store_ops local_ops = {
	.name = "local",
	.put = local_put,
	.get = local_get,
	.promote = local_promote,
	.list = local_list,
	.describe = local_describe,
	.remove = local_remove,
	.close = local_close,
};

int kb_store_local_open(const struct kb_config *cfg, struct kb_store **ret)
{
	struct kb_store *s = calloc(1, sizeof(*s));
	struct local *l = calloc(1, sizeof(*l));
	const char *dir = kb_config_get(cfg, "local.dir");
	char *lockp = NULL;
	int r;

	*ret = NULL;
	if (s == NULL || l == NULL) {
		free(s);
		free(l);
		return KB_ERR_NOMEM;
	}
	s->ops = &local_ops;
	s->impl = l;
	l->lock_fd = -1;
	if (dir == NULL || *dir == '\0')
		dir = getenv("BROKER_STORE_DIR");
	if (dir == NULL || *dir == '\0') {
		r = kb_err_set(KB_ERR_ARGS, "no local store directory: set local.dir or BROKER_STORE_DIR");
		goto out;
	}
	if ((l->dir = kb_strdup(dir)) == NULL || (l->secrets = kb_asprintf("%s/secrets", dir)) == NULL ||
	    (lockp = kb_asprintf("%s/.lock", dir)) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	if ((r = kb_local_mkdir_parents(dir)) || (r = kb_local_check_private(dir, true, false)) || (r = kb_local_mkdir_private(l->secrets)))
		goto out;
	if ((l->lock_fd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		r = kb_err_errno(lockp);
		goto out;
	}
	if ((r = lock(l, LOCK_EX)))
		goto out;
	r = kb_local_load_keys(l->dir, l->secrets, cfg, &l->keys);
	unlock(l);
out:
	free(lockp);
	if (r != KB_OK) {
		local_close(s);
		return r;
	}
	*ret = s;
	return KB_OK;
}
