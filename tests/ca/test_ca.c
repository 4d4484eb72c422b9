/* The CA library on the local backend: init (also racing), rotate,
 * promote, the bundle at chosen times, and the rotation state parser
 * with truncation and bit-flip loops. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "issue/ca.h"
#include "kbtest.h"
#include "store/store.h"

static char dir[] = "/tmp/kbca.XXXXXX";
static struct kb_config *cfg;
static struct kb_store *st;

static const char good_state[] =
	"{\"kind\":\"keybroker/ca-rotation/v1\",\"ca\":\"user\",\"pending\":{\"version\":\"3\",\"overlap\":60,"
	"\"created\":1},\"promotion\":{\"from\":\"1\",\"to\":\"2\",\"overlap\":3600,\"started\":1764460000,"
	"\"done\":true,\"overlap_until\":1764463600}}";

static void test_state_parser(void)
{
	const uint8_t *p = (const uint8_t *)good_state;
	size_t n = strlen(good_state);
	KBT_CHECK_INT(kb_ca_state_check(p, n), KB_OK);
	/* Every proper prefix is refused. */
	int bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += kb_ca_state_check(p, i) != KB_OK;
	KBT_CHECK_INT(bad, (int)n);
	/* Bit flips: no crash, no leak (ASan); some still parse. */
	uint8_t *c = malloc(n);
	KBT_CHECK(c != NULL);
	if (c != NULL) {
		for (size_t i = 0; i < n; i++)
			for (int b = 0; b < 8; b++) {
				memcpy(c, p, n);
				c[i] ^= (uint8_t)(1u << b);
				(void)kb_ca_state_check(c, n);
			}
		free(c);
	}
	KBT_CHECK_INT(kb_ca_state_check((const uint8_t *)"{\"kind\":\"keybroker/ca-rotation/v1\",\"promotion\":"
							  "{\"from\":\"1\",\"to\":\"2\",\"overlap\":1,\"started\":1,"
							  "\"done\":true}}", 96),
		      KB_ERR_INVALID); /* done without overlap_until */
	KBT_CHECK_INT(kb_ca_state_check(p, 9000), KB_ERR_TOO_LARGE);
}

static size_t bundle_n(int64_t now, struct kb_ca_status *out)
{
	struct kb_ca_status s;
	if (kb_ca_status_read(st, false, now, &s) != KB_OK)
		return 999;
	size_t n = s.n;
	if (out)
		*out = s;
	else
		kb_ca_status_done(&s);
	return n;
}

static void test_rotation(void)
{
	struct kb_key *ca1 = NULL, **keys = NULL;
	size_t n = 0;
	struct kb_ca_rotate_result rr;
	struct kb_ca_promote_result pr;
	struct kb_ca_status s;
	int64_t now = (int64_t)time(NULL);

	KBT_CHECK_INT(kb_ca_bundle(st, false, &keys, &n), KB_ERR_NOT_FOUND);
	KBT_CHECK_INT(kb_ca_promote(st, false, 60, 0, &pr), KB_ERR_NOT_FOUND);
	KBT_CHECK_INT(kb_ca_init(st, KB_KEY_ED25519, 0, false, &ca1), KB_OK);
	KBT_CHECK_INT(kb_ca_bundle(st, false, &keys, &n), KB_OK);
	KBT_CHECK(n == 1 && kb_key_equal_public(keys[0], ca1));
	for (size_t i = 0; i < n; i++)
		kb_key_free(keys[i]);
	free(keys);
	/* Nothing pending: promote says so. */
	KBT_CHECK_INT(kb_ca_promote(st, false, 60, 0, &pr), KB_ERR_NOT_FOUND);
	/* Overlap rules. */
	KBT_CHECK_INT(kb_ca_rotate(st, false, KB_KEY_UNSPEC, 0, 30, 60, &rr), KB_ERR_ARGS);
	KBT_CHECK_INT(kb_ca_rotate(st, false, KB_KEY_UNSPEC, 0, 0, 0, &rr), KB_ERR_ARGS);
	KBT_CHECK_INT(bundle_n(now, NULL), 1);
	/* Rotate (another key type on request) and again: same pending CA. */
	KBT_CHECK_INT(kb_ca_rotate(st, false, KB_KEY_ECDSA_P256, 0, 0, 60, &rr), KB_OK);
	KBT_CHECK(rr.created && rr.overlap == 60 && kb_key_type(rr.pub) == KB_KEY_ECDSA_P256);
	struct kb_key *ca2 = NULL;
	kb_key_dup_public(rr.pub, &ca2);
	char v2[KB_CA_VERSION_MAX + 1];
	kb_strlcpy(v2, rr.version, sizeof(v2));
	kb_ca_rotate_result_done(&rr);
	KBT_CHECK_INT(kb_ca_rotate(st, false, KB_KEY_UNSPEC, 0, 0, 60, &rr), KB_OK);
	KBT_CHECK(!rr.created && kb_key_equal_public(rr.pub, ca2) && strcmp(rr.version, v2) == 0);
	kb_ca_rotate_result_done(&rr);
	KBT_CHECK_INT(bundle_n(now, &s), 2);
	KBT_CHECK(s.entries[0].stage == KB_STAGE_CURRENT && kb_key_equal_public(s.entries[0].pub, ca1));
	KBT_CHECK(s.entries[1].stage == KB_STAGE_PENDING && kb_key_equal_public(s.entries[1].pub, ca2));
	KBT_CHECK_STR(s.pending_version, v2);
	kb_ca_status_done(&s);
	/* kb_ca_load still gives the old CA. */
	struct kb_key *signer = NULL;
	KBT_CHECK_INT(kb_ca_load(st, false, &signer), KB_OK);
	KBT_CHECK(signer != NULL && kb_key_equal_public(signer, ca1));
	kb_key_free(signer);
	/* Promote: recorded overlap (60) used; raising min_overlap wins. */
	KBT_CHECK_INT(kb_ca_promote(st, false, 0, 120, &pr), KB_OK);
	KBT_CHECK(pr.outcome == KB_CA_PROMOTED && pr.overlap == 120 && kb_key_equal_public(pr.pub, ca2));
	KBT_CHECK(pr.overlap_until >= now + 120 && pr.overlap_until <= (int64_t)time(NULL) + 120);
	int64_t until = pr.overlap_until;
	kb_ca_promote_result_done(&pr);
	KBT_CHECK_INT(kb_ca_load(st, false, &signer), KB_OK);
	KBT_CHECK(signer != NULL && kb_key_equal_public(signer, ca2));
	kb_key_free(signer);
	/* Inside the overlap: current then previous; after it: current only. */
	KBT_CHECK_INT(bundle_n(until - 1, &s), 2);
	KBT_CHECK(s.entries[0].stage == KB_STAGE_CURRENT && kb_key_equal_public(s.entries[0].pub, ca2));
	KBT_CHECK(s.entries[1].stage == KB_STAGE_PREVIOUS && kb_key_equal_public(s.entries[1].pub, ca1));
	KBT_CHECK(s.entries[1].trusted_until == until);
	KBT_CHECK_STR(s.retired_version, "");
	kb_ca_status_done(&s);
	KBT_CHECK_INT(bundle_n(until, &s), 1);
	KBT_CHECK(kb_key_equal_public(s.entries[0].pub, ca2));
	KBT_CHECK(s.retired_version[0] != '\0');
	kb_ca_status_done(&s);
	/* Rerun: already done; a new pending may not be promoted yet. */
	KBT_CHECK_INT(kb_ca_promote(st, false, 0, 120, &pr), KB_OK);
	KBT_CHECK(pr.outcome == KB_CA_PROMOTE_ALREADY && pr.overlap_until == until);
	kb_ca_promote_result_done(&pr);
	KBT_CHECK_INT(kb_ca_rotate(st, false, KB_KEY_UNSPEC, 0, 0, 120, &rr), KB_OK);
	KBT_CHECK(rr.created && kb_key_type(rr.pub) == KB_KEY_ECDSA_P256);
	kb_ca_rotate_result_done(&rr);
	KBT_CHECK_INT(kb_ca_promote(st, false, 0, 120, &pr), KB_ERR_CONFLICT);
	KBT_CHECK(pr.blocked_until == until);
	KBT_CHECK_INT(bundle_n(now, NULL), 3);
	/* A previous version not made by 'ca promote' (raw store promote)
	 * is not trusted: no record of its overlap. */
	char *pend = NULL;
	struct kb_buf v;
	kb_buf_init_secure(&v, KB_STORE_VALUE_MAX);
	struct kb_store_sel sel = { .stage = KB_STAGE_PENDING };
	KBT_CHECK_INT(kb_store_get(st, KB_CA_USER_SECRET, &sel, &v, &pend), KB_OK);
	kb_buf_done(&v);
	KBT_CHECK_INT(kb_store_promote(st, KB_CA_USER_SECRET, pend), KB_OK);
	free(pend);
	KBT_CHECK_INT(bundle_n(now, &s), 1);
	KBT_CHECK(s.retired_version[0] != '\0' && s.entries[0].stage == KB_STAGE_CURRENT);
	kb_ca_status_done(&s);
	kb_key_free(ca1);
	kb_key_free(ca2);
}

/* Several processes run ca init at once (each pausing between "not
 * found" and its write): exactly one creates, all report the same key. */
static void test_init_race(void)
{
	enum { N = 4 };
	int fds[N][2];
	pid_t pids[N];

	setenv("KB_TEST_PAUSE", "ca-init-before-put", 1);
	for (int i = 0; i < N; i++) {
		if (pipe(fds[i]) != 0)
			return;
		pids[i] = fork();
		if (pids[i] == 0) {
			struct kb_store *s2 = NULL;
			struct kb_key *pub = NULL;
			char *pl = NULL, line[256] = "F";
			close(fds[i][0]);
			int r = kb_store_open(cfg, &s2);
			if (r == KB_OK)
				r = kb_ca_init(s2, KB_KEY_ED25519, 0, true, &pub);
			if (pub != NULL && kb_key_format_public_line(pub, NULL, &pl) == KB_OK)
				snprintf(line, sizeof(line), "%c %s", r == KB_OK ? 'C' : r == KB_ERR_EXISTS ? 'E' : 'F', pl);
			if (write(fds[i][1], line, strlen(line)) < 0)
				_exit(2);
			_exit(0);
		}
		close(fds[i][1]);
	}
	unsetenv("KB_TEST_PAUSE");
	int created = 0, exists = 0, same = 1;
	char first[256] = "";
	for (int i = 0; i < N; i++) {
		char buf[256] = "";
		ssize_t got = 0, k;
		while (got < (ssize_t)sizeof(buf) - 1 && (k = read(fds[i][0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
			got += k;
		close(fds[i][0]);
		waitpid(pids[i], NULL, 0);
		created += buf[0] == 'C';
		exists += buf[0] == 'E';
		if (first[0] == '\0')
			kb_strlcpy(first, buf + 2, sizeof(first));
		else if (strcmp(first, buf + 2) != 0)
			same = 0;
	}
	KBT_CHECK_INT(created, 1);
	KBT_CHECK_INT(exists, N - 1);
	KBT_CHECK(same);
	/* And that key is the host CA now. */
	struct kb_key *k = NULL;
	char *pl = NULL;
	KBT_CHECK_INT(kb_ca_load(st, true, &k), KB_OK);
	if (k != NULL && kb_key_format_public_line(k, NULL, &pl) == KB_OK)
		KBT_CHECK_STR(pl, first);
	free(pl);
	kb_key_free(k);
}

/* Runs fn in N processes at once (with KB_TEST_PAUSE=pause); each
 * child's one-line answer goes into out[i]. */
enum { NRACE = 4 };
typedef void (*race_fn)(struct kb_store *s, char *out, size_t n);
static void race(const char *pause, race_fn fn, char out[NRACE][256])
{
	int fds[NRACE][2];
	pid_t pids[NRACE];

	setenv("KB_TEST_PAUSE", pause, 1);
	for (int i = 0; i < NRACE; i++) {
		out[i][0] = '\0';
		if (pipe(fds[i]) != 0)
			return;
		pids[i] = fork();
		if (pids[i] == 0) {
			struct kb_store *s2 = NULL;
			char line[256] = "F open";
			close(fds[i][0]);
			if (kb_store_open(cfg, &s2) == KB_OK)
				fn(s2, line, sizeof(line));
			if (write(fds[i][1], line, strlen(line)) < 0)
				_exit(2);
			_exit(0);
		}
		close(fds[i][1]);
	}
	unsetenv("KB_TEST_PAUSE");
	for (int i = 0; i < NRACE; i++) {
		ssize_t got = 0, k;
		while (got < 255 && (k = read(fds[i][0], out[i] + got, 255 - (size_t)got)) > 0)
			got += k;
		out[i][got] = '\0';
		close(fds[i][0]);
		waitpid(pids[i], NULL, 0);
	}
}

static void rotate_child(struct kb_store *s, char *out, size_t n)
{
	struct kb_ca_rotate_result rr;
	int r = kb_ca_rotate(s, true, KB_KEY_UNSPEC, 0, 0, 60, &rr);
	if (r == KB_OK)
		snprintf(out, n, "%c %s", rr.created ? 'C' : 'K', rr.version);
	else
		snprintf(out, n, "F %s", kb_err_detail());
	kb_ca_rotate_result_done(&rr);
}

static void promote_child(struct kb_store *s, char *out, size_t n)
{
	struct kb_ca_promote_result pr;
	int r = kb_ca_promote(s, true, 0, 60, &pr);
	if (r == KB_OK)
		snprintf(out, n, "%d %s", (int)pr.outcome, pr.to);
	else
		snprintf(out, n, "F %s", kb_err_detail());
	kb_ca_promote_result_done(&pr);
}

/* Brokers rotating at once make one pending CA; promoting at once, they
 * all succeed and leave one finished promotion. */
static void test_rotate_promote_race(void)
{
	char out[NRACE][256];
	int created = 0, ok = 0;

	race("ca-rotate-before-put", rotate_child, out);
	for (int i = 0; i < NRACE; i++) {
		created += out[i][0] == 'C';
		ok += (out[i][0] == 'C' || out[i][0] == 'K') && strcmp(out[i] + 2, out[0] + 2) == 0;
		if (out[i][0] == 'F')
			printf("#   rotate child: %s\n", out[i]);
	}
	KBT_CHECK_INT(created, 1);
	KBT_CHECK_INT(ok, NRACE);
	char pend[KB_CA_VERSION_MAX + 1];
	kb_strlcpy(pend, out[0] + 2, sizeof(pend));
	struct kb_ca_status s;
	KBT_CHECK_INT(kb_ca_status_read(st, true, (int64_t)time(NULL), &s), KB_OK);
	KBT_CHECK(s.n == 2 && strcmp(s.entries[1].version, pend) == 0);
	KBT_CHECK_STR(s.pending_version, pend);
	kb_ca_status_done(&s);

	race("ca-promote-before-start", promote_child, out);
	ok = 0;
	for (int i = 0; i < NRACE; i++) {
		ok += out[i][0] != 'F' && strcmp(out[i] + 2, pend) == 0;
		if (out[i][0] == 'F')
			printf("#   promote child: %s\n", out[i]);
	}
	KBT_CHECK_INT(ok, NRACE);
	int64_t now = (int64_t)time(NULL);
	KBT_CHECK_INT(kb_ca_status_read(st, true, now, &s), KB_OK);
	KBT_CHECK(s.n == 2 && s.entries[0].stage == KB_STAGE_CURRENT && strcmp(s.entries[0].version, pend) == 0);
	KBT_CHECK(s.promotion_done && strcmp(s.to, pend) == 0 && s.overlap == 60);
	KBT_CHECK(s.overlap_until > now && s.overlap_until <= now + 60);
	KBT_CHECK_STR(s.pending_version, "");
	kb_ca_status_done(&s);
}

int main(void)
{
	kb_init();
	kb_json_use_wiping_alloc();
	if (mkdtemp(dir) == NULL)
		return 1;
	char path_store[300];
	snprintf(path_store, sizeof(path_store), "%s/store", dir);
	if (kb_config_new(&cfg) || kb_config_set(cfg, "backend", "local", "t") ||
	    kb_config_set(cfg, "local.dir", path_store, "t") || kb_store_open(cfg, &st) != KB_OK)
		return 1;
	KBT_RUN(test_state_parser);
	KBT_RUN(test_rotation);
	KBT_RUN(test_init_race);
	KBT_RUN(test_rotate_promote_race);
	kb_store_close(st);
	kb_config_free(cfg);
	char *rm[] = { "rm", "-rf", dir, NULL };
	pid_t pid = fork();
	if (pid == 0) {
		execvp(rm[0], rm);
		_exit(1);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return kbt_done();
}
