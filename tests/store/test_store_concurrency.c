/* Two processes hammer one local store with puts and promotes while a third
 * reads; afterwards every version each writer was given must be unique and
 * hold that writer's value, and the stages must be consistent. */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "core/mem.h"
#include "kbtest.h"
#include "store/store.h"
#include "store_test_util.h"

#define WRITERS 2
#define ROUNDS 120
#define NAME "c/shared"

static struct kbt_store T;

/* Writes "version value" lines to fd; exits non-zero on any failure. */
static int writer(int id, int fd)
{
	struct kb_store *s = NULL;
	if (kb_store_open(T.cfg, &s) != KB_OK)
		return 10;
	for (int i = 0; i < ROUNDS; i++) {
		char val[64], tok[64], *v = NULL;
		snprintf(val, sizeof(val), "w%d-%d", id, i);
		snprintf(tok, sizeof(tok), "tok-%d-%d", id, i);
		struct kb_store_put_opts o = { .stage = i % 5 == 4 ? KB_STAGE_PENDING : KB_STAGE_CURRENT, .token = tok };
		int r = kb_store_put(s, NAME, (const uint8_t *)val, strlen(val), &o, &v);
		if (r != KB_OK) {
			fprintf(stderr, "writer %d: put: %s (%s)\n", id, kb_err_str(r), kb_err_detail());
			return 11;
		}
		if (o.stage == KB_STAGE_PENDING && (r = kb_store_promote(s, NAME, v)) != KB_OK) {
			fprintf(stderr, "writer %d: promote: %s (%s)\n", id, kb_err_str(r), kb_err_detail());
			return 12;
		}
		/* A retry with the same token must give the same version. */
		if (i % 7 == 0) {
			char *v2 = NULL;
			r = kb_store_put(s, NAME, (const uint8_t *)val, strlen(val), &o, &v2);
			if (r != KB_OK || strcmp(v, v2) != 0)
				return 13;
			free(v2);
		}
		dprintf(fd, "%s %s\n", v, val);
		free(v);
	}
	kb_store_close(s);
	return 0;
}

static int reader(void)
{
	struct kb_store *s = NULL;
	struct kb_buf out;
	int ok = 0;
	if (kb_store_open(T.cfg, &s) != KB_OK)
		return 20;
	kb_buf_init_secure(&out, KB_STORE_VALUE_MAX);
	/* Until it has seen enough values (the writers may start later). */
	for (int i = 0; i < 200000 && ok < ROUNDS; i++) {
		kb_buf_reset(&out);
		int r = kb_store_get(s, NAME, NULL, &out, NULL);
		if (r == KB_ERR_NOT_FOUND)
			continue;
		if (r != KB_OK || kb_buf_remaining(&out) < 4 || kb_buf_ptr(&out)[0] != 'w') {
			fprintf(stderr, "reader: %s (%s)\n", kb_err_str(r), kb_err_detail());
			return 21;
		}
		ok++;
	}
	kb_buf_done(&out);
	kb_store_close(s);
	return ok > 0 ? 0 : 22;
}

static void test_parallel(void)
{
	int fds[2];
	pid_t pids[WRITERS + 1];

	KBT_CHECK(pipe(fds) == 0);
	for (int i = 0; i <= WRITERS; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			close(fds[0]);
			_exit(i < WRITERS ? writer(i, fds[1]) : reader());
		}
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	char line[256];
	static char seen[WRITERS * ROUNDS + 2];
	int lines = 0;
	while (fgets(line, sizeof(line), f)) {
		char ver[32], val[64];
		if (sscanf(line, "%31s %63s", ver, val) != 2)
			continue;
		int n = (int)strtol(ver, NULL, 10);
		KBT_CHECK(n >= 1 && n <= WRITERS * ROUNDS);
		if (n >= 1 && n <= WRITERS * ROUNDS) {
			KBT_CHECK(!seen[n]);
			seen[n] = 1;
		}
		/* Versions not pruned still hold the writer's value. */
		int r = kbt_get(&T, NAME, ver, 0, val);
		KBT_CHECK(r == KB_OK || r == KB_ERR_NOT_FOUND);
		lines++;
	}
	fclose(f);
	for (int i = 0; i <= WRITERS; i++) {
		int st = 0;
		waitpid(pids[i], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			printf("#   child %d: status %#x\n", i, st);
		KBT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	KBT_CHECK_INT(lines, WRITERS * ROUNDS);

	struct kb_secret_info *info = NULL;
	KBT_CHECK_INT(kb_store_describe(T.s, NAME, &info), KB_OK);
	if (info) {
		unsigned cur = 0, pend = 0, prev = 0;
		for (size_t i = 0; i < info->nversions; i++) {
			cur += (info->versions[i].stages & KB_STAGE_CURRENT) != 0;
			pend += (info->versions[i].stages & KB_STAGE_PENDING) != 0;
			prev += (info->versions[i].stages & KB_STAGE_PREVIOUS) != 0;
		}
		KBT_CHECK_INT(cur, 1);
		KBT_CHECK_INT(pend, 0);
		KBT_CHECK_INT(prev, 1);
		char last[16];
		snprintf(last, sizeof(last), "%d", WRITERS * ROUNDS);
		KBT_CHECK_STR(info->versions[info->nversions - 1].id, last);
		printf("# %zu versions kept after %d puts\n", info->nversions, WRITERS * ROUNDS);
	}
	kb_secret_info_free(info);
	KBT_CHECK_INT(kbt_get(&T, NAME, NULL, KB_STAGE_CURRENT, NULL), KB_OK);
}

int main(void)
{
	if (kb_init() != 0)
		return 1;
	unsetenv("BROKER_STORE_PASSPHRASE");
	kbt_store_open(&T);
	KBT_RUN(test_parallel);
	kbt_store_close(&T);
	return kbt_done();
}
