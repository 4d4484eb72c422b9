/* Tamper detection in the local store: every byte of every file flipped,
 * every file truncated and extended, version files swapped within and
 * between secrets, metadata and whole secrets swapped, a file from an
 * earlier incarnation of a secret put back.  Each must give an error, and
 * no operation may ever return a wrong value or wrong stages. */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/mem.h"
#include "kbtest.h"
#include "store/store.h"
#include "store_test_util.h"

static const struct {
	const char *name, *version, *value;
} expect[] = {
	{ "t/a", "1", "alpha-1" }, { "t/a", "2", "alpha-2" }, { "t/a", "3", "alpha-3" },
	{ "t/b", "1", "beta-1" },  { "t/b", "2", "beta-2" },
};

static struct kbt_store T;
static char *dir_a, *dir_b;

static int verify(void)
{
	int errors = 0;

	kb_store_close(T.s);
	T.s = NULL;
	if (kb_store_open(T.cfg, &T.s) != KB_OK)
		return 100;
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
		if (kbt_get(&T, expect[i].name, expect[i].version, 0, expect[i].value) != KB_OK)
			errors++;
	errors += kbt_get(&T, "t/a", NULL, KB_STAGE_CURRENT, "alpha-2") != KB_OK;
	errors += kbt_get(&T, "t/a", NULL, KB_STAGE_PREVIOUS, "alpha-1") != KB_OK;
	errors += kbt_get(&T, "t/a", NULL, KB_STAGE_PENDING, "alpha-3") != KB_OK;
	errors += kbt_get(&T, "t/b", NULL, KB_STAGE_CURRENT, "beta-2") != KB_OK;
	errors += kbt_get(&T, "t/b", NULL, KB_STAGE_PREVIOUS, "beta-1") != KB_OK;
	const char *sa = kbt_stages(&T, "t/a");
	if (strcmp(sa, "error") == 0)
		errors++;
	else
		KBT_CHECK_STR(sa, "1:previous,2:current,3:pending");
	const char *sb = kbt_stages(&T, "t/b");
	if (strcmp(sb, "error") == 0)
		errors++;
	else
		KBT_CHECK_STR(sb, "1:previous,2:current");
	char **names = NULL;
	size_t n = 0;
	if (kb_store_list(T.s, NULL, &names, &n) != KB_OK) {
		errors++;
		KBT_CHECK(names == NULL && n == 0);
	} else {
		/* A secret whose metadata is gone is absent, never wrong. */
		KBT_CHECK(n <= 2);
		errors += n < 2 ? (int)(2 - n) : 0;
		for (size_t i = 0; i < n; i++)
			KBT_CHECK(strcmp(names[i], "t/a") == 0 || strcmp(names[i], "t/b") == 0);
		if (n == 2)
			KBT_CHECK(strcmp(names[0], names[1]) < 0);
	}
	kb_store_names_free(names, n);
	return errors;
}

static int read_all(const char *path, uint8_t **ret, size_t *len)
{
	struct kb_buf b;
	kb_buf_init(&b, 1u << 20);
	int r = kb_read_file(path, 1u << 20, &b);
	*len = kb_buf_remaining(&b);
	*ret = malloc(*len ? *len : 1);
	memcpy(*ret, kb_buf_ptr(&b), *len);
	kb_buf_done(&b);
	return r;
}

static void write_all(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CREAT, 0600);
	if (fd < 0 || (n && write(fd, p, n) != (ssize_t)n)) {
		perror(path);
		exit(2);
	}
	close(fd);
}

static char *only_new_dir(const char *secrets, const char *except)
{
	DIR *d = opendir(secrets);
	struct dirent *de;
	char *found = NULL;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || (except && strstr(except, de->d_name)))
			continue;
		free(found);
		found = kb_asprintf("%s/%s", secrets, de->d_name);
	}
	closedir(d);
	return found;
}

static void setup(void)
{
	kbt_store_open(&T);
	char *secrets = kbt_path(&T, "secrets");
	kbt_put(&T, "t/a", "alpha-1", KB_STAGE_CURRENT, NULL, NULL);
	kbt_put(&T, "t/a", "alpha-2", KB_STAGE_CURRENT, NULL, NULL);
	kbt_put(&T, "t/a", "alpha-3", KB_STAGE_PENDING, "tok", NULL);
	dir_a = only_new_dir(secrets, NULL);
	kbt_put(&T, "t/b", "beta-1", KB_STAGE_CURRENT, NULL, NULL);
	kbt_put(&T, "t/b", "beta-2", KB_STAGE_CURRENT, NULL, NULL);
	dir_b = only_new_dir(secrets, dir_a);
	free(secrets);
}

static void test_baseline(void)
{
	KBT_CHECK_INT(verify(), 0);
}

static bool skip(const char *path)
{
	return strstr(path, "/.lock") != NULL;
}

static void test_bit_flips(void)
{
	struct kbt_files f;
	size_t tried = 0;

	kbt_files(&T, &f);
	for (size_t i = 0; i < f.n; i++) {
		uint8_t *orig, *mod;
		size_t len;
		if (skip(f.p[i]))
			continue;
		read_all(f.p[i], &orig, &len);
		mod = malloc(len);
		for (size_t pos = 0; pos < len; pos++) {
			memcpy(mod, orig, len);
			mod[pos] ^= (uint8_t)(1u << (pos % 8));
			write_all(f.p[i], mod, len);
			int e = verify();
			if (e == 0)
				printf("#   undetected flip at %s:%zu\n", f.p[i], pos);
			KBT_CHECK(e > 0);
			tried++;
		}
		write_all(f.p[i], orig, len);
		free(orig);
		free(mod);
	}
	printf("# %zu bit flips in %zu files\n", tried, f.n);
	KBT_CHECK(tried > 400);
	kbt_files_free(&f);
	KBT_CHECK_INT(verify(), 0);
}

static void test_truncate_extend(void)
{
	struct kbt_files f;

	kbt_files(&T, &f);
	for (size_t i = 0; i < f.n; i++) {
		uint8_t *orig, *mod;
		size_t len;
		if (skip(f.p[i]))
			continue;
		read_all(f.p[i], &orig, &len);
		for (size_t cut = 0; cut < len; cut++) {
			write_all(f.p[i], orig, cut);
			KBT_CHECK(verify() > 0);
		}
		mod = malloc(len + 1);
		memcpy(mod, orig, len);
		mod[len] = 0;
		write_all(f.p[i], mod, len + 1);
		KBT_CHECK(verify() > 0);
		/* A missing file: absent metadata means no secret; anything
		 * else is an error. */
		unlink(f.p[i]);
		int e = verify();
		if (strstr(f.p[i], "/meta") == NULL)
			KBT_CHECK(e > 0);
		write_all(f.p[i], orig, len);
		free(orig);
		free(mod);
	}
	kbt_files_free(&f);
	KBT_CHECK_INT(verify(), 0);
}

static void swap_files(const char *a, const char *b)
{
	char *tmp = kb_asprintf("%s.swap", a);
	KBT_CHECK(rename(a, tmp) == 0 && rename(b, a) == 0 && rename(tmp, b) == 0);
	free(tmp);
}

static void swap_and_check(const char *fa, const char *fb)
{
	char *a = kb_asprintf("%s/%s", dir_a, fa), *b = kb_asprintf("%s/%s", dir_b, fb);
	swap_files(a, b);
	KBT_CHECK(verify() > 0);
	swap_files(a, b);
	KBT_CHECK_INT(verify(), 0);
	free(a);
	free(b);
}

static void test_swaps(void)
{
	/* Within one secret. */
	char *a1 = kb_asprintf("%s/v1", dir_a), *a2 = kb_asprintf("%s/v2", dir_a);
	swap_files(a1, a2);
	KBT_CHECK_INT(kbt_get(&T, "t/a", "1", 0, NULL), KB_ERR_SIGNATURE);
	KBT_CHECK_INT(kbt_get(&T, "t/a", "2", 0, NULL), KB_ERR_SIGNATURE);
	KBT_CHECK(strstr(kb_err_detail(), "t/a") != NULL);
	swap_files(a1, a2);
	KBT_CHECK_INT(verify(), 0);
	/* A version file copied over another version. */
	uint8_t *p;
	size_t n;
	read_all(a1, &p, &n);
	char *a3 = kb_asprintf("%s/v3", dir_a);
	uint8_t *o3;
	size_t n3;
	read_all(a3, &o3, &n3);
	write_all(a3, p, n);
	KBT_CHECK_INT(kbt_get(&T, "t/a", NULL, KB_STAGE_PENDING, NULL), KB_ERR_SIGNATURE);
	write_all(a3, o3, n3);
	free(p);
	free(o3);
	free(a3);
	/* Between secrets: versions, metadata, whole directories. */
	swap_and_check("v1", "v1");
	swap_and_check("v2", "v2");
	swap_and_check("v2", "v1");
	swap_and_check("meta", "meta");
	swap_files(dir_a, dir_b);
	KBT_CHECK_INT(kbt_get(&T, "t/a", NULL, KB_STAGE_CURRENT, NULL), KB_ERR_SIGNATURE);
	KBT_CHECK_INT(kbt_get(&T, "t/b", NULL, KB_STAGE_CURRENT, NULL), KB_ERR_SIGNATURE);
	KBT_CHECK(verify() > 0);
	swap_files(dir_a, dir_b);
	KBT_CHECK_INT(verify(), 0);
	free(a1);
	free(a2);
}

static void test_old_incarnation(void)
{
	/* A file from a deleted secret of the same name and version. */
	struct kbt_store t;
	kbt_store_open(&t);
	kbt_put(&t, "t/x", "same", KB_STAGE_CURRENT, NULL, NULL);
	char *secrets = kbt_path(&t, "secrets"), *d = only_new_dir(secrets, NULL);
	char *v1 = kb_asprintf("%s/v1", d);
	uint8_t *old;
	size_t n;
	read_all(v1, &old, &n);
	KBT_CHECK_INT(kb_store_remove(t.s, "t/x"), KB_OK);
	kbt_put(&t, "t/x", "same", KB_STAGE_CURRENT, NULL, NULL);
	KBT_CHECK_INT(kbt_get(&t, "t/x", NULL, KB_STAGE_CURRENT, "same"), KB_OK);
	write_all(v1, old, n);
	KBT_CHECK_INT(kbt_get(&t, "t/x", NULL, KB_STAGE_CURRENT, NULL), KB_ERR_SIGNATURE);
	/* Deleting a damaged secret is refused too (nothing silently lost). */
	char *meta = kb_asprintf("%s/meta", d);
	uint8_t *m;
	size_t mn;
	read_all(meta, &m, &mn);
	m[mn / 2] ^= 1;
	write_all(meta, m, mn);
	KBT_CHECK_INT(kb_store_remove(t.s, "t/x"), KB_ERR_SIGNATURE);
	KBT_CHECK(access(meta, F_OK) == 0);
	free(m);
	free(meta);
	free(old);
	free(v1);
	free(d);
	free(secrets);
	kbt_store_close(&t);
}

int main(void)
{
	if (kb_init() != 0)
		return 1;
	unsetenv("BROKER_STORE_PASSPHRASE");
	setup();
	KBT_RUN(test_baseline);
	KBT_RUN(test_bit_flips);
	KBT_RUN(test_truncate_extend);
	KBT_RUN(test_swaps);
	KBT_RUN(test_old_incarnation);
	kbt_store_close(&T);
	free(dir_a);
	free(dir_b);
	return kbt_done();
}
