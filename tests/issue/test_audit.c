/* Audit log: appends chain, and each tampering (edit, delete, insert,
 * reorder) is found at the right line, keyed and unkeyed. */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "issue/audit.h"
#include "kbtest.h"

static char dir[] = "/tmp/kbaudit.XXXXXX";

static char *lines[16];
static size_t nlines;

static void write_log(const char *key, const char *name, int n)
{
	char path[256], kp[256];
	struct kb_audit *a = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(kp, sizeof(kp), "%s/key", dir);
	unlink(path);
	KBT_CHECK_INT(kb_audit_open(path, key ? kp : NULL, &a), KB_OK);
	for (int i = 0; a && i < n; i++) {
		json_t *e = json_pack("{s:s,s:s,s:s,s:i}", "requester", "alice", "role", "deploy", "decision",
				      i % 2 ? "deny" : "allow", "n", i);
		uint64_t seq = 0;
		KBT_CHECK_INT(kb_audit_append(a, e, &seq), KB_OK);
		KBT_CHECK_INT(seq, i + 1);
		json_decref(e);
	}
	kb_audit_close(a);
}

static void read_lines(const char *name)
{
	char path[256];
	struct kb_buf b;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	kb_buf_init(&b, 1 << 20);
	KBT_CHECK_INT(kb_read_file(path, 1 << 20, &b), KB_OK);
	KBT_CHECK_INT(kb_buf_put_u8(&b, 0), KB_OK);
	for (size_t i = 0; i < nlines; i++)
		free(lines[i]);
	nlines = 0;
	const char *p = (const char *)kb_buf_ptr(&b);
	while (*p && nlines < 16) {
		const char *nl = strchr(p, '\n');
		lines[nlines++] = kb_asprintf("%.*s\n", (int)(nl - p), p);
		p = nl + 1;
	}
	kb_buf_done(&b);
}

static int verify_lines(const uint8_t *key, size_t keylen, const size_t *order, size_t n,
			struct kb_audit_report *rep)
{
	struct kb_buf b;
	kb_buf_init(&b, 1 << 20);
	for (size_t i = 0; i < n; i++)
		kb_buf_put(&b, lines[order[i]], strlen(lines[order[i]]));
	int r = kb_audit_verify_text((const char *)kb_buf_ptr(&b), kb_buf_remaining(&b), key, keylen, rep);
	kb_buf_done(&b);
	return r;
}

static int first_bad_line(const struct kb_audit_report *rep)
{
	return rep->nproblems ? (int)rep->problems[0].line : 0;
}

static void tamper_suite(const uint8_t *key, size_t keylen)
{
	struct kb_audit_report rep;
	size_t ok[] = { 0, 1, 2, 3, 4 };
	KBT_CHECK_INT(nlines, 5);
	KBT_CHECK_INT(verify_lines(key, keylen, ok, 5, &rep), KB_OK);
	KBT_CHECK_INT(rep.entries, 5);
	KBT_CHECK_INT(rep.last_seq, 5);
	kb_audit_report_done(&rep);

	/* deleted line 3 */
	size_t del[] = { 0, 1, 3, 4 };
	KBT_CHECK_INT(verify_lines(key, keylen, del, 4, &rep), KB_ERR_SIGNATURE);
	KBT_CHECK_INT(first_bad_line(&rep), 3);
	KBT_CHECK(rep.nproblems && strstr(rep.problems[0].msg, "deleted") != NULL);
	kb_audit_report_done(&rep);
	/* deleted first line */
	size_t del0[] = { 1, 2, 3, 4 };
	KBT_CHECK_INT(verify_lines(key, keylen, del0, 4, &rep), KB_ERR_SIGNATURE);
	KBT_CHECK_INT(first_bad_line(&rep), 1);
	kb_audit_report_done(&rep);

	/* reordered lines 2 and 3 */
	size_t swap[] = { 0, 2, 1, 3, 4 };
	KBT_CHECK_INT(verify_lines(key, keylen, swap, 5, &rep), KB_ERR_SIGNATURE);
	KBT_CHECK_INT(first_bad_line(&rep), 2);
	KBT_CHECK(rep.nproblems >= 2 && strstr(rep.problems[1].msg, "reordered") != NULL);
	kb_audit_report_done(&rep);

	/* inserted: a copy of line 2 after line 4 */
	size_t ins[] = { 0, 1, 2, 3, 1, 4 };
	KBT_CHECK_INT(verify_lines(key, keylen, ins, 6, &rep), KB_ERR_SIGNATURE);
	KBT_CHECK_INT(first_bad_line(&rep), 5);
	kb_audit_report_done(&rep);

	/* edited: allow -> deny in line 4 (same length), then a flip in every byte */
	char *saved = kb_strdup(lines[3]);
	char *d = strstr(lines[3], "\"deny\"");
	if (d != NULL)
		memcpy(d, "\"DENY\"", 6);
	KBT_CHECK_INT(verify_lines(key, keylen, ok, 5, &rep), KB_ERR_SIGNATURE);
	KBT_CHECK_INT(first_bad_line(&rep), 4);
	KBT_CHECK(rep.nproblems && strstr(rep.problems[0].msg, "edited") != NULL);
	kb_audit_report_done(&rep);
	size_t len = strlen(saved);
	for (size_t i = 0; i + 1 < len; i++) {
		memcpy(lines[3], saved, len + 1);
		lines[3][i] ^= 0x01;
		int r = verify_lines(key, keylen, ok, 5, &rep);
		KBT_CHECK(r == KB_ERR_SIGNATURE);
		KBT_CHECK(r != KB_ERR_SIGNATURE || first_bad_line(&rep) == 4);
		kb_audit_report_done(&rep);
	}
	memcpy(lines[3], saved, len + 1);
	free(saved);
	/* truncated mid-line */
	lines[4][10] = '\0';
	KBT_CHECK_INT(verify_lines(key, keylen, ok, 5, &rep), KB_ERR_SIGNATURE);
	KBT_CHECK_INT(first_bad_line(&rep), 5);
	kb_audit_report_done(&rep);
}

static void test_unkeyed(void)
{
	write_log(NULL, "plain.log", 5);
	read_lines("plain.log");
	tamper_suite(NULL, 0);
}

static void test_keyed(void)
{
	char kp[256];
	uint8_t *key = NULL;
	size_t keylen = 0;
	snprintf(kp, sizeof(kp), "%s/key", dir);
	KBT_CHECK_INT(kb_audit_new_key(kp), KB_OK);
	KBT_CHECK_INT(kb_audit_new_key(kp), KB_ERR_EXISTS);
	KBT_CHECK_INT(kb_audit_load_key(kp, &key, &keylen), KB_OK);
	KBT_CHECK_INT(keylen, 32);
	write_log(kp, "keyed.log", 5);
	read_lines("keyed.log");
	tamper_suite(key, keylen);
	/* without the key: refused; with a wrong key: every line fails */
	struct kb_audit_report rep;
	size_t ok[] = { 0, 1, 2, 3, 4 };
	KBT_CHECK_INT(verify_lines(NULL, 0, ok, 5, &rep), KB_ERR_AUTH);
	kb_audit_report_done(&rep);
	key[0] ^= 1;
	KBT_CHECK_INT(verify_lines(key, keylen, ok, 5, &rep), KB_ERR_SIGNATURE);
	KBT_CHECK_INT(rep.nproblems, 5);
	kb_audit_report_done(&rep);
	kb_secure_free(key);
}

/* Several processes appending at once still make one chain. */
static void test_concurrent(void)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/conc.log", dir);
	unlink(path);
	for (int p = 0; p < 4; p++) {
		pid_t pid = fork();
		if (pid == 0) {
			struct kb_audit *a = NULL;
			if (kb_audit_open(path, NULL, &a) != KB_OK)
				_exit(1);
			for (int i = 0; i < 25; i++) {
				json_t *e = json_pack("{s:i,s:i}", "proc", p, "i", i);
				if (kb_audit_append(a, e, NULL) != KB_OK)
					_exit(1);
				json_decref(e);
			}
			kb_audit_close(a);
			_exit(0);
		}
	}
	int st, fails = 0;
	while (wait(&st) > 0)
		fails += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	KBT_CHECK_INT(fails, 0);
	struct kb_audit_report rep;
	KBT_CHECK_INT(kb_audit_verify_file(path, NULL, 0, &rep), KB_OK);
	KBT_CHECK_INT(rep.entries, 100);
	kb_audit_report_done(&rep);
}

/* An append to a log whose tail is damaged fails (the request must fail). */
static void test_damaged_tail(void)
{
	char path[256];
	struct kb_audit *a = NULL;
	snprintf(path, sizeof(path), "%s/damaged.log", dir);
	KBT_CHECK_INT(kb_write_file_atomic(path, "{\"x\":1", 6, 0600, false), KB_OK);
	KBT_CHECK_INT(kb_audit_open(path, NULL, &a), KB_OK);
	json_t *e = json_pack("{s:s}", "k", "v");
	KBT_CHECK(a && kb_audit_append(a, e, NULL) != KB_OK);
	json_decref(e);
	kb_audit_close(a);
}

int main(void)
{
	kb_init();
	if (mkdtemp(dir) == NULL)
		return 1;
	KBT_RUN(test_unkeyed);
	KBT_RUN(test_keyed);
	KBT_RUN(test_concurrent);
	KBT_RUN(test_damaged_tail);
	for (size_t i = 0; i < nlines; i++)
		free(lines[i]);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "%s", dir);
	const char *names[] = { "plain.log", "keyed.log", "key", "conc.log", "damaged.log" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char p[300];
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(cmd);
	return kbt_done();
}
