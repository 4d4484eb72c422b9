#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "core/err.h"

int kb_parse_duration(const char *s, int64_t *ret_secs)
{
	int64_t total = 0;
	const char *p = s;

	if (s == NULL || *s == '\0')
		return KB_ERR_INVALID;
	while (*p) {
		if (!isdigit((unsigned char)*p))
			return KB_ERR_INVALID;
		int64_t v = 0;
		while (isdigit((unsigned char)*p)) {
			if (v > (INT64_MAX - 9) / 10)
				return KB_ERR_INVALID;
			v = v * 10 + (*p++ - '0');
		}
		int64_t mult;
		switch (*p) {
		case '\0': mult = 1; break;
		case 's': case 'S': mult = 1; p++; break;
		case 'm': case 'M': mult = 60; p++; break;
		case 'h': case 'H': mult = 3600; p++; break;
		case 'd': case 'D': mult = 86400; p++; break;
		case 'w': case 'W': mult = 604800; p++; break;
		default: return KB_ERR_INVALID;
		}
		if (v > INT64_MAX / mult || total > INT64_MAX - v * mult)
			return KB_ERR_INVALID;
		total += v * mult;
	}
	*ret_secs = total;
	return KB_OK;
}

void kb_format_duration(int64_t secs, char *out, size_t n)
{
	const char *sign = "";
	if (secs < 0) {
		sign = "-";
		secs = -secs;
	}
	int64_t d = secs / 86400, h = secs % 86400 / 3600, m = secs % 3600 / 60, s = secs % 60;
	if (d > 0)
		snprintf(out, n, "%s%lldd %lldh %lldm", sign, (long long)d, (long long)h, (long long)m);
	else if (h > 0)
		snprintf(out, n, "%s%lldh %lldm %llds", sign, (long long)h, (long long)m, (long long)s);
	else if (m > 0)
		snprintf(out, n, "%s%lldm %llds", sign, (long long)m, (long long)s);
	else
		snprintf(out, n, "%s%llds", sign, (long long)s);
}

void kb_format_time_utc(int64_t t, char *out, size_t n)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, n, "@%lld", (long long)t);
}

void kb_format_time_local(int64_t t, char *out, size_t n)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (localtime_r(&tt, &tm) == NULL || strftime(out, n, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
		snprintf(out, n, "@%lld", (long long)t);
}

static int digits(const char **p, int count, int *ret)
{
	int v = 0;
	for (int i = 0; i < count; i++) {
		if (!isdigit((unsigned char)**p))
			return KB_ERR_INVALID;
		v = v * 10 + (*(*p)++ - '0');
	}
	*ret = v;
	return KB_OK;
}

static int check_tm(const struct tm *tm)
{
	if (tm->tm_mon < 0 || tm->tm_mon > 11 || tm->tm_mday < 1 || tm->tm_mday > 31 ||
	    tm->tm_hour > 23 || tm->tm_min > 59 || tm->tm_sec > 60)
		return KB_ERR_INVALID;
	return KB_OK;
}

int kb_parse_time_utc(const char *s, int64_t *ret_t)
{
	struct tm tm = { 0 };
	const char *p = s;
	int y, mo, d, h, mi, se, off = 0;

	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
	    digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
		return KB_ERR_INVALID;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' || digits(&p, 2, &se))
		return KB_ERR_INVALID;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return KB_ERR_INVALID;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
			return KB_ERR_INVALID;
		off = sign * (oh * 3600 + om * 60);
	} else {
		return KB_ERR_INVALID;
	}
	if (*p != '\0')
		return KB_ERR_INVALID;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	if (check_tm(&tm))
		return KB_ERR_INVALID;
	*ret_t = (int64_t)timegm(&tm) - off;
	return KB_OK;
}

int kb_parse_time_sshkeygen(const char *s, int64_t *ret_t)
{
	struct tm tm = { 0 };
	const char *p = s;
	size_t n = strlen(s);
	bool utc = n > 0 && (s[n - 1] == 'Z' || s[n - 1] == 'z');
	int y, mo, d, h = 0, mi = 0, se = 0;

	if (utc)
		n--;
	if (n != 8 && n != 12 && n != 14)
		return KB_ERR_INVALID;
	if (digits(&p, 4, &y) || digits(&p, 2, &mo) || digits(&p, 2, &d))
		return KB_ERR_INVALID;
	if (n >= 12 && (digits(&p, 2, &h) || digits(&p, 2, &mi)))
		return KB_ERR_INVALID;
	if (n == 14 && digits(&p, 2, &se))
		return KB_ERR_INVALID;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	tm.tm_isdst = -1;
	if (check_tm(&tm))
		return KB_ERR_INVALID;
	*ret_t = utc ? (int64_t)timegm(&tm) : (int64_t)mktime(&tm);
	return KB_OK;
}

char *kb_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

char *kb_strdup(const char *s)
{
	return s == NULL ? NULL : strdup(s);
}

size_t kb_strlcpy(char *dst, const char *src, size_t n)
{
	size_t len = strlen(src);
	if (n > 0) {
		size_t c = len < n - 1 ? len : n - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return len;
}

int kb_parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return KB_ERR_INVALID;
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return KB_ERR_INVALID;
		unsigned dgt = (unsigned)(*p - '0');
		if (v > (max - dgt) / 10)
			return KB_ERR_INVALID;
		v = v * 10 + dgt;
	}
	*ret = v;
	return KB_OK;
}

bool kb_str_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int kb_read_file(const char *path, size_t max, struct kb_buf *out)
{
	struct stat st;
	int fd, r = KB_OK;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return kb_err_errno(path);
	if (fstat(fd, &st) != 0) {
		r = kb_err_errno(path);
		goto out;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
		r = kb_err_set(KB_ERR_TOO_LARGE, "%s: larger than %zu bytes", path, max);
		goto out;
	}
	for (;;) {
		uint8_t tmp[4096];
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = kb_err_errno(path);
			break;
		}
		if (n == 0)
			break;
		if (kb_buf_remaining(out) + (size_t)n > max) {
			r = kb_err_set(KB_ERR_TOO_LARGE, "%s: larger than %zu bytes", path, max);
		} else {
			r = kb_buf_put(out, tmp, (size_t)n);
		}
		sodium_memzero(tmp, sizeof(tmp));
		if (r != KB_OK)
			break;
	}
out:
	close(fd);
	return r;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int kb_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode, bool exclusive)
{
	char *dircopy = kb_strdup(path), *tmp = NULL;
	int fd = -1, dfd = -1, r = KB_OK;
	uint8_t rnd[8];

	if (dircopy == NULL)
		return KB_ERR_NOMEM;
	const char *dir = dirname(dircopy);
	randombytes_buf(rnd, sizeof(rnd));
	tmp = kb_asprintf("%s.tmp-%02x%02x%02x%02x%02x%02x%02x%02x", path, rnd[0], rnd[1], rnd[2],
			  rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	if (tmp == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode & 07777);
	if (fd < 0) {
		r = kb_err_errno(tmp);
		goto out;
	}
	/* open() honours the umask; make the mode exactly what was asked. */
	if (fchmod(fd, mode & 07777) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		r = kb_err_errno(tmp);
		goto out_unlink;
	}
	if (close(fd) != 0) {
		fd = -1;
		r = kb_err_errno(tmp);
		goto out_unlink;
	}
	fd = -1;
	if (exclusive) {
		if (link(tmp, path) != 0) {
			r = kb_err_errno(path);
			goto out_unlink;
		}
		unlink(tmp);
	} else if (rename(tmp, path) != 0) {
		r = kb_err_errno(path);
		goto out_unlink;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		if (fsync(dfd) != 0)
			r = kb_err_errno(dir);
		close(dfd);
	}
	goto out;
out_unlink:
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	free(tmp);
	free(dircopy);
	return r;
}
