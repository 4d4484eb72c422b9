/* Unit tests of store.c (validation, stages, names) and of the local
 * backend's semantics (versions, stages, idempotency, list, describe,
 * delete, keys and passphrases). Tamper detection is in test_store_tamper.c. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "core/err.h"
#include "core/mem.h"
#include "kbtest.h"
#include "store/store.h"
#include "store_test_util.h"

static void test_names(void)
{
	KBT_CHECK(kb_store_name_valid("keybroker/deploy/alice"));
	KBT_CHECK(kb_store_name_valid("a"));
	KBT_CHECK(kb_store_name_valid("keybroker/ca/user"));
	KBT_CHECK(kb_store_name_valid("x/a.b/c..d/...e/@x+=_-"));
	KBT_CHECK(!kb_store_name_valid(NULL));
	KBT_CHECK(!kb_store_name_valid(""));
	KBT_CHECK(!kb_store_name_valid("/abs"));
	KBT_CHECK(!kb_store_name_valid("trailing/"));
	KBT_CHECK(!kb_store_name_valid("a//b"));
	KBT_CHECK(!kb_store_name_valid("a/../b"));
	KBT_CHECK(!kb_store_name_valid(".."));
	KBT_CHECK(!kb_store_name_valid("."));
	KBT_CHECK(!kb_store_name_valid("a/."));
	KBT_CHECK(!kb_store_name_valid("./a"));
	KBT_CHECK(!kb_store_name_valid("a b"));
	KBT_CHECK(!kb_store_name_valid("a\nb"));
	KBT_CHECK(!kb_store_name_valid("a\\b"));
	KBT_CHECK(!kb_store_name_valid("caf\xc3\xa9"));
	char big[KB_STORE_NAME_MAX + 2];
	memset(big, 'a', sizeof(big));
	big[KB_STORE_NAME_MAX] = '\0';
	KBT_CHECK(kb_store_name_valid(big));
	big[KB_STORE_NAME_MAX] = 'a';
	big[KB_STORE_NAME_MAX + 1] = '\0';
	KBT_CHECK(!kb_store_name_valid(big));
}

static void test_stages(void)
{
	enum kb_stage s;
	KBT_CHECK_INT(kb_stage_parse("current", &s), KB_OK);
	KBT_CHECK_INT(s, KB_STAGE_CURRENT);
	KBT_CHECK_INT(kb_stage_parse("AWSPENDING", &s), KB_OK);
	KBT_CHECK_INT(s, KB_STAGE_PENDING);
	KBT_CHECK_INT(kb_stage_parse("previous", &s), KB_OK);
	KBT_CHECK_INT(s, KB_STAGE_PREVIOUS);
	KBT_CHECK_INT(kb_stage_parse("AWSPREVIOUS", &s), KB_OK);
	KBT_CHECK_INT(kb_stage_parse("latest", &s), KB_ERR_INVALID);
	KBT_CHECK_INT(s, KB_STAGE_NONE);
	KBT_CHECK_INT(kb_stage_parse(NULL, &s), KB_ERR_INVALID);
	KBT_CHECK_STR(kb_stage_name(KB_STAGE_CURRENT), "current");
	KBT_CHECK_STR(kb_stage_name(KB_STAGE_PENDING), "pending");
	KBT_CHECK_STR(kb_stage_name(KB_STAGE_PREVIOUS), "previous");
}

static void test_open_dispatch(void)
{
	struct kb_config *cfg = NULL;
	struct kb_store *s = (struct kb_store *)1;
	KBT_CHECK_INT(kb_config_new(&cfg), KB_OK);
	kb_config_set(cfg, "backend", "floppy", "test");
	KBT_CHECK_INT(kb_store_open(cfg, &s), KB_ERR_ARGS);
	KBT_CHECK(s == NULL);
	KBT_CHECK(strstr(kb_err_detail(), "floppy") != NULL);
	kb_config_free(cfg);
	kb_store_close(NULL);
}

static void test_validation(void)
{
	struct kbt_store t;
	uint8_t *big = calloc(1, KB_STORE_VALUE_MAX + 1);
	char *v = NULL;
	struct kb_buf out;

	kb_buf_init_secure(&out, KB_STORE_VALUE_MAX);
	kbt_store_open(&t);
	KBT_CHECK_INT(kb_store_put(t.s, "../x", (const uint8_t *)"a", 1, NULL, &v), KB_ERR_ARGS);
	KBT_CHECK_INT(kb_store_put(t.s, "k/big", big, KB_STORE_VALUE_MAX + 1, NULL, &v), KB_ERR_TOO_LARGE);
	KBT_CHECK(v == NULL);
	KBT_CHECK_INT(kb_store_put(t.s, "k/big", big, KB_STORE_VALUE_MAX, NULL, &v), KB_OK);
	KBT_CHECK_STR(v, "1");
	free(v);
	KBT_CHECK_INT(kb_store_get(t.s, "k/big", NULL, &out, &v), KB_OK);
	KBT_CHECK_INT(kb_buf_remaining(&out), KB_STORE_VALUE_MAX);
	free(v);
	struct kb_store_put_opts o = { .stage = KB_STAGE_PREVIOUS };
	KBT_CHECK_INT(kb_store_put(t.s, "k/a", (const uint8_t *)"a", 1, &o, NULL), KB_ERR_ARGS);
	o = (struct kb_store_put_opts){ .token = "has space" };
	KBT_CHECK_INT(kb_store_put(t.s, "k/a", (const uint8_t *)"a", 1, &o, NULL), KB_ERR_ARGS);
	char tok[66];
	memset(tok, 't', 65);
	tok[65] = '\0';
	o.token = tok;
	KBT_CHECK_INT(kb_store_put(t.s, "k/a", (const uint8_t *)"a", 1, &o, NULL), KB_ERR_ARGS);
	tok[64] = '\0';
	KBT_CHECK_INT(kb_store_put(t.s, "k/a", (const uint8_t *)"a", 1, &o, NULL), KB_OK);
	struct kb_store_sel sel = { .version = "" };
	KBT_CHECK_INT(kb_store_get(t.s, "k/a", &sel, &out, NULL), KB_ERR_ARGS);
	sel = (struct kb_store_sel){ .stage = KB_STAGE_CURRENT | KB_STAGE_PENDING };
	KBT_CHECK_INT(kb_store_get(t.s, "k/a", &sel, &out, NULL), KB_ERR_ARGS);
	KBT_CHECK_INT(kb_store_promote(t.s, "k/a", "x y"), KB_ERR_ARGS);
	KBT_CHECK_INT(kb_store_promote(t.s, "k/a", "nosuch"), KB_ERR_NOT_FOUND);
	KBT_CHECK_INT(kb_store_remove(t.s, "k//a"), KB_ERR_ARGS);
	/* An empty value is a value. */
	KBT_CHECK_INT(kb_store_put(t.s, "k/empty", NULL, 0, NULL, NULL), KB_OK);
	kb_buf_reset(&out);
	KBT_CHECK_INT(kb_store_get(t.s, "k/empty", NULL, &out, NULL), KB_OK);
	KBT_CHECK_INT(kb_buf_remaining(&out), 0);
	kbt_store_close(&t);
	kb_buf_done(&out);
	free(big);
}

static void test_stage_moves(void)
{
	struct kbt_store t;
	char *v = NULL;

	kbt_store_open(&t);
	KBT_CHECK_INT(kbt_get(&t, "r/a", NULL, KB_STAGE_CURRENT, NULL), KB_ERR_NOT_FOUND);
	KBT_CHECK_INT(kbt_put(&t, "r/a", "one", KB_STAGE_CURRENT, NULL, &v), KB_OK);
	KBT_CHECK_STR(v, "1");
	free(v);
	KBT_CHECK_INT(kbt_get(&t, "r/a", NULL, KB_STAGE_CURRENT, "one"), KB_OK);
	KBT_CHECK_INT(kbt_get(&t, "r/a", NULL, KB_STAGE_PREVIOUS, NULL), KB_ERR_NOT_FOUND);
	KBT_CHECK_INT(kbt_get(&t, "r/a", NULL, KB_STAGE_PENDING, NULL), KB_ERR_NOT_FOUND);
	KBT_CHECK_INT(kbt_put(&t, "r/a", "two", KB_STAGE_CURRENT, NULL, NULL), KB_OK);
	KBT_CHECK_INT(kbt_get(&t, "r/a", NULL, KB_STAGE_CURRENT, "two"), KB_OK);
	KBT_CHECK_INT(kbt_get(&t, "r/a", NULL, KB_STAGE_PREVIOUS, "one"), KB_OK);
	KBT_CHECK_INT(kbt_put(&t, "r/a", "three", KB_STAGE_CURRENT, NULL, NULL), KB_OK);
	KBT_CHECK_STR(kbt_stages(&t, "r/a"), "1:-,2:previous,3:current");
	/* Pending does not touch current or previous. */
	KBT_CHECK_INT(kbt_put(&t, "r/a", "four", KB_STAGE_PENDING, NULL, &v), KB_OK);
	KBT_CHECK_STR(v, "4");
	free(v);
	KBT_CHECK_STR(kbt_stages(&t, "r/a"), "1:-,2:previous,3:current,4:pending");
	KBT_CHECK_INT(kbt_get(&t, "r/a", NULL, KB_STAGE_CURRENT, "three"), KB_OK);
	KBT_CHECK_INT(kbt_get(&t, "r/a", NULL, KB_STAGE_PENDING, "four"), KB_OK);
	/* A second pending takes the label from the first. */
	KBT_CHECK_INT(kbt_put(&t, "r/a", "five", KB_STAGE_PENDING, NULL, NULL), KB_OK);
	KBT_CHECK_STR(kbt_stages(&t, "r/a"), "1:-,2:previous,3:current,4:-,5:pending");
	/* A current put keeps the pending label where it is. */
	KBT_CHECK_INT(kbt_put(&t, "r/a", "six", KB_STAGE_CURRENT, NULL, NULL), KB_OK);
	KBT_CHECK_STR(kbt_stages(&t, "r/a"), "1:-,2:-,3:previous,4:-,5:pending,6:current");
	/* Promote the pending version: it loses pending. */
	KBT_CHECK_INT(kb_store_promote(t.s, "r/a", "5"), KB_OK);
	KBT_CHECK_STR(kbt_stages(&t, "r/a"), "1:-,2:-,3:-,4:-,5:current,6:previous");
	KBT_CHECK_INT(kbt_get(&t, "r/a", NULL, KB_STAGE_CURRENT, "five"), KB_OK);
	KBT_CHECK_INT(kbt_get(&t, "r/a", NULL, KB_STAGE_PENDING, NULL), KB_ERR_NOT_FOUND);
	/* Promoting the current version is a no-op. */
	KBT_CHECK_INT(kb_store_promote(t.s, "r/a", "5"), KB_OK);
	KBT_CHECK_STR(kbt_stages(&t, "r/a"), "1:-,2:-,3:-,4:-,5:current,6:previous");
	/* Roll back to the previous version. */
	KBT_CHECK_INT(kb_store_promote(t.s, "r/a", "6"), KB_OK);
	KBT_CHECK_STR(kbt_stages(&t, "r/a"), "1:-,2:-,3:-,4:-,5:previous,6:current");
	/* An old unstaged version can be promoted and read by id. */
	KBT_CHECK_INT(kb_store_promote(t.s, "r/a", "1"), KB_OK);
	KBT_CHECK_STR(kbt_stages(&t, "r/a"), "1:current,2:-,3:-,4:-,5:-,6:previous");
	KBT_CHECK_INT(kbt_get(&t, "r/a", "4", 0, "four"), KB_OK);
	KBT_CHECK_INT(kbt_get(&t, "r/a", "7", 0, NULL), KB_ERR_NOT_FOUND);
	KBT_CHECK_INT(kbt_get(&t, "r/a", "01x", 0, NULL), KB_ERR_NOT_FOUND);
	KBT_CHECK_INT(kb_store_promote(t.s, "r/a", "7"), KB_ERR_NOT_FOUND);
	KBT_CHECK_INT(kb_store_promote(t.s, "r/nope", "1"), KB_ERR_NOT_FOUND);
	/* A new secret may start with only a pending version. */
	KBT_CHECK_INT(kbt_put(&t, "r/p", "p1", KB_STAGE_PENDING, NULL, NULL), KB_OK);
	KBT_CHECK_INT(kbt_get(&t, "r/p", NULL, KB_STAGE_CURRENT, NULL), KB_ERR_NOT_FOUND);
	KBT_CHECK_INT(kb_store_promote(t.s, "r/p", "1"), KB_OK);
	KBT_CHECK_STR(kbt_stages(&t, "r/p"), "1:current");
	kbt_store_close(&t);
}

static void test_idempotency(void)
{
	struct kbt_store t;
	char *v = NULL;

	kbt_store_open(&t);
	KBT_CHECK_INT(kbt_put(&t, "i/a", "v1", KB_STAGE_CURRENT, "tok-1", &v), KB_OK);
	KBT_CHECK_STR(v, "1");
	free(v);
	/* A retry returns the same version and changes nothing. */
	KBT_CHECK_INT(kbt_put(&t, "i/a", "v1", KB_STAGE_CURRENT, "tok-1", &v), KB_OK);
	KBT_CHECK_STR(v, "1");
	free(v);
	KBT_CHECK_STR(kbt_stages(&t, "i/a"), "1:current");
	KBT_CHECK_INT(kbt_put(&t, "i/a", "v2", KB_STAGE_PENDING, "tok-2", &v), KB_OK);
	KBT_CHECK_STR(v, "2");
	free(v);
	/* Even after the version moved on, the retry returns it unchanged. */
	KBT_CHECK_INT(kb_store_promote(t.s, "i/a", "2"), KB_OK);
	KBT_CHECK_INT(kbt_put(&t, "i/a", "v2", KB_STAGE_PENDING, "tok-2", &v), KB_OK);
	KBT_CHECK_STR(v, "2");
	free(v);
	KBT_CHECK_STR(kbt_stages(&t, "i/a"), "1:previous,2:current");
	/* Same token, other value: a conflict, nothing written. */
	v = NULL;
	KBT_CHECK_INT(kbt_put(&t, "i/a", "other", KB_STAGE_CURRENT, "tok-1", &v), KB_ERR_CONFLICT);
	KBT_CHECK(v == NULL);
	KBT_CHECK(strstr(kb_err_detail(), "tok-1") != NULL);
	KBT_CHECK_STR(kbt_stages(&t, "i/a"), "1:previous,2:current");
	/* Tokens are per secret. */
	KBT_CHECK_INT(kbt_put(&t, "i/b", "other", KB_STAGE_CURRENT, "tok-1", &v), KB_OK);
	KBT_CHECK_STR(v, "1");
	free(v);
	/* A prefix of the value is another value. */
	KBT_CHECK_INT(kbt_put(&t, "i/b", "othe", KB_STAGE_CURRENT, "tok-1", NULL), KB_ERR_CONFLICT);
	kbt_store_close(&t);
}

static void test_list_describe_remove(void)
{
	struct kbt_store t;
	char **names = NULL;
	size_t n = 0;
	struct kb_secret_info *info = NULL;

	kbt_store_open(&t);
	KBT_CHECK_INT(kb_store_list(t.s, NULL, &names, &n), KB_OK);
	KBT_CHECK_INT(n, 0);
	kb_store_names_free(names, n);
	const char *all[] = { "keybroker/web/zed", "keybroker/deploy/bob", "keybroker/deploy/alice",
			      "keybroker/ca/user", "other/x", "keybroker/deployer/c" };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		KBT_CHECK_INT(kbt_put(&t, all[i], all[i], KB_STAGE_CURRENT, NULL, NULL), KB_OK);
	KBT_CHECK_INT(kb_store_list(t.s, "keybroker/deploy/", &names, &n), KB_OK);
	KBT_CHECK_INT(n, 2);
	if (n == 2) {
		KBT_CHECK_STR(names[0], "keybroker/deploy/alice");
		KBT_CHECK_STR(names[1], "keybroker/deploy/bob");
	}
	kb_store_names_free(names, n);
	KBT_CHECK_INT(kb_store_list(t.s, "", &names, &n), KB_OK);
	KBT_CHECK_INT(n, 6);
	for (size_t i = 1; i < n; i++)
		KBT_CHECK(strcmp(names[i - 1], names[i]) < 0);
	kb_store_names_free(names, n);
	KBT_CHECK_INT(kb_store_list(t.s, "nothing", &names, &n), KB_OK);
	KBT_CHECK_INT(n, 0);
	kb_store_names_free(names, n);

	KBT_CHECK_INT(kbt_put(&t, "keybroker/deploy/bob", "b2", KB_STAGE_PENDING, NULL, NULL), KB_OK);
	KBT_CHECK_INT(kb_store_describe(t.s, "keybroker/deploy/bob", &info), KB_OK);
	if (info) {
		KBT_CHECK_STR(info->name, "keybroker/deploy/bob");
		KBT_CHECK_INT(info->nversions, 2);
		KBT_CHECK(info->created > 1700000000 && info->updated >= info->created);
		KBT_CHECK(info->versions[0].created >= info->created);
	}
	kb_secret_info_free(info);
	KBT_CHECK_INT(kb_store_describe(t.s, "keybroker/deploy/carol", &info), KB_ERR_NOT_FOUND);
	KBT_CHECK(info == NULL);

	KBT_CHECK_INT(kb_store_remove(t.s, "keybroker/deploy/bob"), KB_OK);
	KBT_CHECK_INT(kb_store_remove(t.s, "keybroker/deploy/bob"), KB_ERR_NOT_FOUND);
	KBT_CHECK_INT(kbt_get(&t, "keybroker/deploy/bob", NULL, KB_STAGE_CURRENT, NULL), KB_ERR_NOT_FOUND);
	KBT_CHECK_INT(kb_store_list(t.s, "keybroker/deploy/", &names, &n), KB_OK);
	KBT_CHECK_INT(n, 1);
	kb_store_names_free(names, n);
	/* A recreated secret starts again at version 1. */
	KBT_CHECK_INT(kbt_put(&t, "keybroker/deploy/bob", "new", KB_STAGE_CURRENT, NULL, NULL), KB_OK);
	KBT_CHECK_STR(kbt_stages(&t, "keybroker/deploy/bob"), "1:current");
	KBT_CHECK_INT(kbt_get(&t, "keybroker/deploy/bob", NULL, KB_STAGE_CURRENT, "new"), KB_OK);
	/* No leftovers of the deletion in the directory, even of one a crash
	 * interrupted. */
	char *grave = kbt_path(&t, "secrets/.deleted-0011223344556677"), *gf = kb_asprintf("%s/v1", grave);
	KBT_CHECK(mkdir(grave, 0700) == 0);
	FILE *f = fopen(gf, "w");
	KBT_CHECK(f != NULL);
	if (f)
		fclose(f);
	KBT_CHECK_INT(kbt_count_files(&t, ".deleted"), 1);
	KBT_CHECK_INT(kb_store_list(t.s, NULL, &names, &n), KB_OK);
	KBT_CHECK_INT(n, 6);
	kb_store_names_free(names, n);
	KBT_CHECK_INT(kb_store_remove(t.s, "other/x"), KB_OK);
	KBT_CHECK_INT(kbt_count_files(&t, ".deleted"), 0);
	KBT_CHECK(access(grave, F_OK) != 0);
	free(grave);
	free(gf);
	kbt_store_close(&t);
}

static void test_pruning(void)
{
	struct kbt_store t;
	char val[32];
	struct kb_secret_info *info = NULL;

	kbt_store_open(&t);
	for (int i = 1; i <= 120; i++) {
		snprintf(val, sizeof(val), "value %d", i);
		KBT_CHECK_INT(kbt_put(&t, "p/a", val, KB_STAGE_CURRENT, NULL, NULL), KB_OK);
	}
	KBT_CHECK_INT(kb_store_describe(t.s, "p/a", &info), KB_OK);
	if (info) {
		/* 100 unstaged plus current and previous. */
		KBT_CHECK_INT(info->nversions, 102);
		KBT_CHECK_STR(info->versions[info->nversions - 1].id, "120");
		KBT_CHECK_STR(info->versions[0].id, "19");
	}
	kb_secret_info_free(info);
	KBT_CHECK_INT(kbt_get(&t, "p/a", "18", 0, NULL), KB_ERR_NOT_FOUND);
	KBT_CHECK_INT(kbt_get(&t, "p/a", "19", 0, "value 19"), KB_OK);
	KBT_CHECK_INT(kbt_count_files(&t, "/v"), 102);
	kbt_store_close(&t);
}

static void test_keys_and_passphrase(void)
{
	struct kbt_store t, t2;
	struct kb_store *s = NULL;

	/* Key file: 0600, 32 bytes; too open a mode is refused. */
	kbt_store_open(&t);
	KBT_CHECK_INT(kbt_put(&t, "k/a", "secret", KB_STAGE_CURRENT, NULL, NULL), KB_OK);
	char *key = kbt_path(&t, "master.key");
	struct stat st;
	KBT_CHECK(stat(key, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 32);
	chmod(key, 0644);
	KBT_CHECK_INT(kb_store_local_open(t.cfg, &s), KB_ERR_PERMISSION);
	KBT_CHECK(strstr(kb_err_detail(), "too open") != NULL);
	chmod(key, 0600);
	/* Another store's key does not open this one. */
	kbt_store_open(&t2);
	char *key2 = kbt_path(&t2, "master.key");
	kb_config_set(t.cfg, "local.master_key", key2, "test");
	KBT_CHECK_INT(kb_store_local_open(t.cfg, &s), KB_ERR_AUTH);
	kb_config_set(t.cfg, "local.master_key", key, "test");
	KBT_CHECK_INT(kb_store_local_open(t.cfg, &s), KB_OK);
	kb_store_close(s);
	/* A missing key file is reported, never replaced by a new key. */
	unlink(key);
	KBT_CHECK_INT(kb_store_local_open(t.cfg, &s), KB_ERR_NOT_FOUND);
	KBT_CHECK(access(key, F_OK) != 0);
	free(key);
	free(key2);
	kbt_store_close(&t2);
	kbt_store_close(&t);

	/* Passphrase: Argon2id, wrong and missing passphrases refused. */
	setenv("BROKER_STORE_PASSPHRASE", "correct horse", 1);
	kbt_store_open(&t);
	KBT_CHECK_INT(kbt_put(&t, "k/a", "secret", KB_STAGE_CURRENT, NULL, NULL), KB_OK);
	KBT_CHECK_INT(kbt_count_files(&t, "master.key"), 0);
	kb_store_close(t.s);
	t.s = NULL;
	setenv("BROKER_STORE_PASSPHRASE", "wrong horse", 1);
	KBT_CHECK_INT(kb_store_local_open(t.cfg, &s), KB_ERR_PASSPHRASE);
	unsetenv("BROKER_STORE_PASSPHRASE");
	KBT_CHECK_INT(kb_store_local_open(t.cfg, &s), KB_ERR_PASSPHRASE);
	KBT_CHECK(strstr(kb_err_detail(), "BROKER_STORE_PASSPHRASE") != NULL);
	setenv("BROKER_STORE_PASSPHRASE", "correct horse", 1);
	KBT_CHECK_INT(kb_store_local_open(t.cfg, &t.s), KB_OK);
	KBT_CHECK_INT(kbt_get(&t, "k/a", NULL, KB_STAGE_CURRENT, "secret"), KB_OK);
	unsetenv("BROKER_STORE_PASSPHRASE");
	kbt_store_close(&t);
}

static void test_no_dir(void)
{
	struct kb_config *cfg = NULL;
	struct kb_store *s = NULL;
	const char *old = getenv("BROKER_STORE_DIR");
	char *save = old ? strdup(old) : NULL;

	unsetenv("BROKER_STORE_DIR");
	kb_config_new(&cfg);
	KBT_CHECK_INT(kb_store_local_open(cfg, &s), KB_ERR_ARGS);
	/* A world-writable directory is refused. */
	char tmpl[] = "/tmp/kbstore-perm.XXXXXX";
	KBT_CHECK(mkdtemp(tmpl) != NULL);
	chmod(tmpl, 0777);
	kb_config_set(cfg, "local.dir", tmpl, "test");
	KBT_CHECK_INT(kb_store_local_open(cfg, &s), KB_ERR_PERMISSION);
	rmdir(tmpl);
	kb_config_free(cfg);
	if (save)
		setenv("BROKER_STORE_DIR", save, 1);
	free(save);
}

int main(void)
{
	if (kb_init() != 0)
		return 1;
	unsetenv("BROKER_STORE_PASSPHRASE");
	KBT_RUN(test_names);
	KBT_RUN(test_stages);
	KBT_RUN(test_open_dispatch);
	KBT_RUN(test_validation);
	KBT_RUN(test_stage_moves);
	KBT_RUN(test_idempotency);
	KBT_RUN(test_list_describe_remove);
	KBT_RUN(test_pruning);
	KBT_RUN(test_keys_and_passphrase);
	KBT_RUN(test_no_dir);
	return kbt_done();
}
