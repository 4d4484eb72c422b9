/* Local store throughput: puts (each two fsync'd atomic writes), gets,
 * describe and list, in one process.  Usage: bench-store-local [N]
 * (uses a fresh directory under $TMPDIR, removed afterwards). */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "core/err.h"
#include "core/mem.h"
#include "store/store.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 200;
	const char *tmp = getenv("TMPDIR");
	char dir[256];
	struct kb_config *cfg = NULL;
	struct kb_store *s = NULL;
	struct kb_buf out;
	uint8_t value[2048];

	if (kb_init() != 0 || n <= 0)
		return 1;
	snprintf(dir, sizeof(dir), "%s/kbbench.XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return 1;
	kb_config_new(&cfg);
	kb_config_set(cfg, "local.dir", dir, "bench");
	double t0 = now();
	if (kb_store_open(cfg, &s) != KB_OK)
		return 1;
	double t_open = now() - t0;
	memset(value, 'v', sizeof(value));
	t0 = now();
	for (int i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof(name), "keybroker/bench/%d", i % 20);
		if (kb_store_put(s, name, value, sizeof(value), NULL, NULL) != KB_OK)
			return 1;
	}
	double t_put = now() - t0;
	kb_buf_init_secure(&out, KB_STORE_VALUE_MAX);
	t0 = now();
	for (int i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof(name), "keybroker/bench/%d", i % 20);
		kb_buf_reset(&out);
		if (kb_store_get(s, name, NULL, &out, NULL) != KB_OK)
			return 1;
	}
	double t_get = now() - t0;
	char **names = NULL;
	size_t nn = 0;
	t0 = now();
	if (kb_store_list(s, "keybroker/", &names, &nn) != KB_OK)
		return 1;
	double t_list = now() - t0;
	printf("open (key file): %.2f ms\n", t_open * 1e3);
	printf("put 2 KiB:  %.3f ms each (%d puts)\n", t_put * 1e3 / n, n);
	printf("get 2 KiB:  %.3f ms each (%d gets)\n", t_get * 1e3 / n, n);
	printf("list %zu:   %.3f ms\n", nn, t_list * 1e3);
	kb_store_names_free(names, nn);
	kb_buf_done(&out);
	kb_store_close(s);
	kb_config_free(cfg);
	nftw(dir, rm, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
