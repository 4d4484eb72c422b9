/* Small utilities: durations, times, strings, files. */
#ifndef KB_UTIL_H
#define KB_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define KB_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Parses an OpenSSH-style duration ("90", "30m", "1h30m", "2w", "1d12h";
 * units s m h d w, case-insensitive) into seconds.  Rejects empty input,
 * signs, overflow and unknown units with KB_ERR_INVALID. */
int kb_parse_duration(const char *s, int64_t *ret_secs);
/* "1h 29m 3s" style; writes at most n bytes. */
void kb_format_duration(int64_t secs, char *out, size_t n);
/* RFC 3339 UTC ("2026-11-29T20:00:00Z"); out needs 21 bytes. */
void kb_format_time_utc(int64_t t, char *out, size_t n);
/* Local time as "2026-11-29 21:00:00 CET". */
void kb_format_time_local(int64_t t, char *out, size_t n);
/* Parses RFC 3339 with 'Z' or +hh:mm offset, fractional seconds ignored. */
int kb_parse_time_utc(const char *s, int64_t *ret_t);
/* Parses ssh-keygen's absolute forms: YYYYMMDD, YYYYMMDDHHMM[SS], with an
 * optional trailing Z for UTC (local time otherwise). */
int kb_parse_time_sshkeygen(const char *s, int64_t *ret_t);

/* Returns a new heap string or NULL. */
char *kb_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *kb_strdup(const char *s);
/* Copies with truncation, always NUL-terminates; returns strlen(src). */
size_t kb_strlcpy(char *dst, const char *src, size_t n);
/* Parses a whole decimal unsigned number (no sign, no junk) <= max. */
int kb_parse_u64(const char *s, uint64_t max, uint64_t *ret);
/* True when s has no control characters (< 0x20, 0x7f). */
bool kb_str_printable(const char *s);

/* Reads a whole file into out (appending), refusing files larger than max
 * with KB_ERR_TOO_LARGE before reading them. */
int kb_read_file(const char *path, size_t max, struct kb_buf *out);
/* Writes data to path atomically: temp file in the same directory with
 * `mode`, fsync, rename, fsync of the directory.  With exclusive, fails with
 * KB_ERR_EXISTS when path exists (checked by link(), so no race). */
int kb_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode, bool exclusive);

#endif
