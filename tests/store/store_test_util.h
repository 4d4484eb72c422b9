/* Helpers for the local store's unit tests: a store in a fresh temporary
 * directory, short put/get forms, and file walking. */
#ifndef KB_STORE_TEST_UTIL_H
#define KB_STORE_TEST_UTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "core/err.h"
#include "core/util.h"
#include "kbtest.h"
#include "store/store.h"

struct kbt_store {
	char root[64];
	char *dir;
	struct kb_config *cfg;
	struct kb_store *s;
};

static inline void kbt_store_open(struct kbt_store *t)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->root, sizeof(t->root), "/tmp/kbstore-test.XXXXXX");
	if (mkdtemp(t->root) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	t->dir = kb_asprintf("%s/store", t->root);
	kb_config_new(&t->cfg);
	kb_config_set(t->cfg, "local.dir", t->dir, "test");
	int r = kb_store_open(t->cfg, &t->s);
	if (r != KB_OK) {
		printf("# cannot open store: %s (%s)\n", kb_err_str(r), kb_err_detail());
		exit(2);
	}
}

static inline int kbt__rm(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static inline void kbt_store_close(struct kbt_store *t)
{
	kb_store_close(t->s);
	t->s = NULL;
	kb_config_free(t->cfg);
	nftw(t->root, kbt__rm, 16, FTW_DEPTH | FTW_PHYS);
	free(t->dir);
}

static inline int kbt_put(struct kbt_store *t, const char *name, const char *value, enum kb_stage stage,
			  const char *token, char **ret_version)
{
	struct kb_store_put_opts o = { .stage = stage, .token = token };
	return kb_store_put(t->s, name, (const uint8_t *)value, strlen(value), &o, ret_version);
}

/* Gets by version (if not NULL) or stage; when expect is given, a value
 * other than expect is a failed check. */
static inline int kbt_get(struct kbt_store *t, const char *name, const char *version, enum kb_stage stage,
			  const char *expect)
{
	struct kb_store_sel sel = { .stage = stage, .version = version };
	struct kb_buf out;
	char *v = NULL;
	kb_buf_init_secure(&out, KB_STORE_VALUE_MAX);
	int r = kb_store_get(t->s, name, &sel, &out, &v);
	if (r == KB_OK && expect != NULL) {
		KBT_CHECK_INT(kb_buf_remaining(&out), strlen(expect));
		KBT_CHECK(kb_buf_remaining(&out) == strlen(expect) &&
			  memcmp(kb_buf_ptr(&out), expect, strlen(expect)) == 0);
		KBT_CHECK(v != NULL);
	}
	if (r != KB_OK) {
		KBT_CHECK(v == NULL);
		KBT_CHECK_INT(kb_buf_remaining(&out), 0);
	}
	free(v);
	kb_buf_done(&out);
	return r;
}

/* "1:-,2:previous,3:current" from describe (or "error"). */
static inline const char *kbt_stages(struct kbt_store *t, const char *name)
{
	static char buf[4096];
	struct kb_secret_info *info = NULL;
	if (kb_store_describe(t->s, name, &info) != KB_OK)
		return "error";
	buf[0] = '\0';
	for (size_t i = 0; i < info->nversions; i++) {
		char one[128], st[64] = "";
		unsigned s = info->versions[i].stages;
		for (unsigned b = 1; b <= 4; b <<= 1)
			if (s & b)
				snprintf(st + strlen(st), sizeof(st) - strlen(st), "%s%s", st[0] ? "+" : "",
					 kb_stage_name((enum kb_stage)b));
		snprintf(one, sizeof(one), "%s%s:%s", i ? "," : "", info->versions[i].id, st[0] ? st : "-");
		if (strlen(buf) + strlen(one) < sizeof(buf))
			memcpy(buf + strlen(buf), one, strlen(one) + 1);
	}
	kb_secret_info_free(info);
	return buf;
}

static inline char *kbt_path(struct kbt_store *t, const char *rel)
{
	return kb_asprintf("%s/%s", t->dir, rel);
}

/* Every regular file under the store directory, in a list. */
struct kbt_files {
	char **p;
	size_t n;
};
static struct kbt_files *kbt__files;
static inline int kbt__collect(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	if (flag == FTW_F) {
		kbt__files->p = realloc(kbt__files->p, (kbt__files->n + 1) * sizeof(char *));
		kbt__files->p[kbt__files->n++] = strdup(p);
	}
	return 0;
}
static inline void kbt_files(struct kbt_store *t, struct kbt_files *out)
{
	out->p = NULL;
	out->n = 0;
	kbt__files = out;
	nftw(t->dir, kbt__collect, 16, FTW_PHYS);
}
static inline void kbt_files_free(struct kbt_files *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->p[i]);
	free(f->p);
}

static inline size_t kbt_count_files(struct kbt_store *t, const char *substr)
{
	struct kbt_files f;
	size_t n = 0;
	kbt_files(t, &f);
	for (size_t i = 0; i < f.n; i++)
		if (strstr(f.p[i], substr) != NULL)
			n++;
	kbt_files_free(&f);
	return n;
}

#endif
