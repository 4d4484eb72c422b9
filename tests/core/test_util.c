#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "kbtest.h"

static void test_duration(void)
{
	int64_t s;

	KBT_CHECK_INT(kb_parse_duration("90", &s), KB_OK);
	KBT_CHECK_INT(s, 90);
	KBT_CHECK_INT(kb_parse_duration("30m", &s), KB_OK);
	KBT_CHECK_INT(s, 1800);
	KBT_CHECK_INT(kb_parse_duration("1h30m", &s), KB_OK);
	KBT_CHECK_INT(s, 5400);
	KBT_CHECK_INT(kb_parse_duration("2W1d", &s), KB_OK);
	KBT_CHECK_INT(s, 2 * 604800 + 86400);
	KBT_CHECK_INT(kb_parse_duration("", &s), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_parse_duration("-5m", &s), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_parse_duration("5x", &s), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_parse_duration("m", &s), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_parse_duration("99999999999999999999", &s), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_parse_duration("9999999999999999w", &s), KB_ERR_INVALID);
}

static void test_time(void)
{
	int64_t t;
	char out[32];

	KBT_CHECK_INT(kb_parse_time_utc("2026-11-29T20:00:00Z", &t), KB_OK);
	KBT_CHECK_INT(t, 1795982400);
	kb_format_time_utc(t, out, sizeof(out));
	KBT_CHECK_STR(out, "2026-11-29T20:00:00Z");
	KBT_CHECK_INT(kb_parse_time_utc("2026-11-29T21:00:00.123+01:00", &t), KB_OK);
	KBT_CHECK_INT(t, 1795982400);
	KBT_CHECK_INT(kb_parse_time_utc("2026-13-29T20:00:00Z", &t), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_parse_time_utc("2026-11-29T20:00:00", &t), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_parse_time_sshkeygen("20261129200000Z", &t), KB_OK);
	KBT_CHECK_INT(t, 1795982400);
	KBT_CHECK_INT(kb_parse_time_sshkeygen("2026112", &t), KB_ERR_INVALID);
	kb_format_duration(5400, out, sizeof(out));
	KBT_CHECK_STR(out, "1h 30m 0s");
}

static void test_u64(void)
{
	uint64_t v;

	KBT_CHECK_INT(kb_parse_u64("18446744073709551615", UINT64_MAX, &v), KB_OK);
	KBT_CHECK(v == UINT64_MAX);
	KBT_CHECK_INT(kb_parse_u64("18446744073709551616", UINT64_MAX, &v), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_parse_u64("12a", UINT64_MAX, &v), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_parse_u64("+1", UINT64_MAX, &v), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_parse_u64("300", 255, &v), KB_ERR_INVALID);
}

static void test_atomic_write(void)
{
	char dir[] = "/tmp/kbtest-XXXXXX";
	struct kb_buf b;
	struct stat st;

	KBT_CHECK(mkdtemp(dir) != NULL);
	char *path = kb_asprintf("%s/f", dir);
	KBT_CHECK_INT(kb_write_file_atomic(path, "abc", 3, 0600, true), KB_OK);
	KBT_CHECK_INT(kb_write_file_atomic(path, "xyz", 3, 0600, true), KB_ERR_EXISTS);
	KBT_CHECK_INT(stat(path, &st), 0);
	KBT_CHECK_INT(st.st_mode & 0777, 0600);
	kb_buf_init(&b, 16);
	KBT_CHECK_INT(kb_read_file(path, 16, &b), KB_OK);
	KBT_CHECK(kb_buf_remaining(&b) == 3 && memcmp(kb_buf_ptr(&b), "abc", 3) == 0);
	kb_buf_done(&b);
	KBT_CHECK_INT(kb_write_file_atomic(path, "hello", 5, 0644, false), KB_OK);
	kb_buf_init(&b, 4);
	KBT_CHECK_INT(kb_read_file(path, 4, &b), KB_ERR_TOO_LARGE);
	kb_buf_done(&b);
	unlink(path);
	rmdir(dir);
	free(path);
}

static void test_errors(void)
{
	KBT_CHECK_STR(kb_err_str(KB_OK), "success");
	KBT_CHECK_STR(kb_err_str(KB_ERR_TRUNCATED), "unexpected end of data");
	KBT_CHECK_STR(kb_err_str(KB_ERR__MIN), "unknown error");
	KBT_CHECK_STR(kb_err_str(5), "unknown error");
	for (int e = 0; e > KB_ERR__MIN; e--)
		KBT_CHECK(strcmp(kb_err_str(e), "unknown error") != 0);
	KBT_CHECK_INT(kb_err_set(KB_ERR_BACKEND, "code %d", 7), KB_ERR_BACKEND);
	KBT_CHECK_STR(kb_err_detail(), "code 7");
}

int main(void)
{
	if (kb_init() != 0)
		return 1;
	setenv("TZ", "UTC", 1);
	KBT_RUN(test_duration);
	KBT_RUN(test_time);
	KBT_RUN(test_u64);
	KBT_RUN(test_atomic_write);
	KBT_RUN(test_errors);
	return kbt_done();
}
