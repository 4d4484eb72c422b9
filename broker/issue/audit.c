/* Tamper-evident audit log: hash chain over JSON lines (see audit.h). */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"

#define DOMAIN "keybroker-audit-v1"
#define HEXLEN (2 * KB_AUDIT_HASH_BYTES)
/* The line ends with exactly this: ,"hash":"<64 hex>"} */
#define SUFFIX_LEN (9 + HEXLEN + 2)

struct kb_audit {
	char *path;
	int fd;
	uint8_t *key; /* secure memory, NULL when unkeyed */
	size_t keylen;
	pthread_mutex_t lock;
};

const char *kb_audit_path(const struct kb_audit *a)
{
	return a->path;
}

static void hash_line(const uint8_t *key, size_t keylen, const uint8_t prev[KB_AUDIT_HASH_BYTES],
		      const char *body, size_t len, uint8_t out[KB_AUDIT_HASH_BYTES])
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, key, key ? keylen : 0, KB_AUDIT_HASH_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)DOMAIN, sizeof(DOMAIN));
	crypto_generichash_update(&st, prev, KB_AUDIT_HASH_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)body, len);
	crypto_generichash_final(&st, out, KB_AUDIT_HASH_BYTES);
	sodium_memzero(&st, sizeof(st));
}

int kb_audit_load_key(const char *path, uint8_t **ret_key, size_t *ret_len)
{
	struct kb_buf b;
	uint8_t *key = NULL;
	size_t n = 0;
	int r;

	*ret_key = NULL;
	*ret_len = 0;
	kb_buf_init_secure(&b, 4096);
	if ((r = kb_read_file(path, 4096, &b)) != KB_OK)
		goto out;
	const char *t = (const char *)kb_buf_ptr(&b);
	size_t len = kb_buf_remaining(&b);
	while (len > 0 && (t[len - 1] == '\n' || t[len - 1] == '\r' || t[len - 1] == ' '))
		len--;
	if ((key = kb_secure_alloc(KB_AUDIT_KEY_MAX)) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	bool hex = len >= 2 * KB_AUDIT_KEY_MIN && len <= 2 * KB_AUDIT_KEY_MAX && len % 2 == 0;
	for (size_t i = 0; hex && i < len; i++)
		hex = strchr("0123456789abcdefABCDEF", t[i]) != NULL && t[i] != '\0';
	if (hex) {
		if (sodium_hex2bin(key, KB_AUDIT_KEY_MAX, t, len, NULL, &n, NULL) != 0)
			n = 0;
	} else if (kb_buf_remaining(&b) >= KB_AUDIT_KEY_MIN && kb_buf_remaining(&b) <= KB_AUDIT_KEY_MAX) {
		n = kb_buf_remaining(&b);
		memcpy(key, kb_buf_ptr(&b), n);
	}
	if (n < KB_AUDIT_KEY_MIN) {
		r = kb_err_set(KB_ERR_INVALID, "%s: an audit key is 16-64 bytes, raw or hex (make one with "
					       "'broker audit keygen FILE')", path);
		goto out;
	}
	*ret_key = key;
	*ret_len = n;
	key = NULL;
out:
	kb_secure_free(key);
	kb_buf_done(&b);
	return r;
}

int kb_audit_new_key(const char *path)
{
	uint8_t k[32];
	char hex[65 + 1];

	randombytes_buf(k, sizeof(k));
	sodium_bin2hex(hex, sizeof(hex), k, sizeof(k));
	size_t n = strlen(hex);
	hex[n++] = '\n';
	int r = kb_write_file_atomic(path, hex, n, 0600, true);
	sodium_memzero(k, sizeof(k));
	sodium_memzero(hex, sizeof(hex));
	if (r == KB_ERR_IO && errno == EEXIST)
		r = kb_err_set(KB_ERR_EXISTS, "%s exists; an audit key is never overwritten", path);
	return r;
}

/* mkdir -p of path's directory (new directories 0700). */
static int mkdir_parent(const char *path)
{
	char *copy = kb_strdup(path);
	int r = KB_OK;

	if (copy == NULL)
		return KB_ERR_NOMEM;
	char *slash = strrchr(copy, '/');
	if (slash == NULL || slash == copy) {
		free(copy);
		return KB_OK;
	}
	*slash = '\0';
	for (char *p = copy + 1; r == KB_OK; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(copy, 0700) != 0 && errno != EEXIST)
			r = kb_err_errno(copy);
		*p = c;
		if (c == '\0')
			break;
	}
	free(copy);
	return r;
}

int kb_audit_open(const char *path, const char *key_path, struct kb_audit **ret)
{
	struct kb_audit *a = calloc(1, sizeof(*a));
	int r;

	*ret = NULL;
	if (a == NULL)
		return KB_ERR_NOMEM;
	a->fd = -1;
	pthread_mutex_init(&a->lock, NULL);
	if ((a->path = kb_strdup(path)) == NULL) {
		r = KB_ERR_NOMEM;
		goto fail;
	}
	if (key_path != NULL && (r = kb_audit_load_key(key_path, &a->key, &a->keylen)) != KB_OK)
		goto fail;
	if ((r = mkdir_parent(path)) != KB_OK)
		goto fail;
	/* O_RDWR: the last entry is read back under the lock. */
	a->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (a->fd < 0) {
		r = kb_err_errno(path);
		goto fail;
	}
	*ret = a;
	return KB_OK;
fail:
	kb_audit_close(a);
	return r;
}

void kb_audit_close(struct kb_audit *a)
{
	if (a == NULL)
		return;
	if (a->fd >= 0)
		close(a->fd);
	kb_secure_free(a->key);
	pthread_mutex_destroy(&a->lock);
	free(a->path);
	free(a);
}

/* Splits a line into body (with the hash member removed and '}' put back
 * by the caller) and the hash.  False when the line does not end in
 * ,"hash":"<hex>"}. */
static bool split_line(const char *line, size_t len, size_t *ret_body_len, uint8_t hash[KB_AUDIT_HASH_BYTES])
{
	if (len < SUFFIX_LEN + 2)
		return false;
	const char *s = line + len - SUFFIX_LEN;
	if (memcmp(s, ",\"hash\":\"", 9) != 0 || memcmp(s + 9 + HEXLEN, "\"}", 2) != 0)
		return false;
	size_t n = 0;
	if (sodium_hex2bin(hash, KB_AUDIT_HASH_BYTES, s + 9, HEXLEN, NULL, &n, NULL) != 0 ||
	    n != KB_AUDIT_HASH_BYTES)
		return false;
	*ret_body_len = len - SUFFIX_LEN;
	return true;
}

/* Reads the last line of the file (under the caller's lock). */
static int read_tail(int fd, uint64_t *ret_seq, uint8_t prev[KB_AUDIT_HASH_BYTES])
{
	struct stat st;
	char *buf = NULL;
	int r = KB_OK;

	*ret_seq = 0;
	memset(prev, 0, KB_AUDIT_HASH_BYTES);
	if (fstat(fd, &st) != 0)
		return kb_err_errno("audit log");
	if (st.st_size == 0)
		return KB_OK;
	size_t want = (uint64_t)st.st_size < KB_AUDIT_LINE_MAX + 1 ? (size_t)st.st_size : KB_AUDIT_LINE_MAX + 1;
	if ((buf = malloc(want + 1)) == NULL)
		return KB_ERR_NOMEM;
	ssize_t got = pread(fd, buf, want, st.st_size - (off_t)want);
	if (got != (ssize_t)want) {
		r = kb_err_errno("audit log: read");
		goto out;
	}
	buf[want] = '\0';
	if (buf[want - 1] != '\n') {
		r = kb_err_set(KB_ERR_INVALID, "the audit log's last line is incomplete: check it with "
					       "'broker audit verify' before issuing again");
		goto out;
	}
	size_t end = want - 1, start = end;
	while (start > 0 && buf[start - 1] != '\n')
		start--;
	if (start == 0 && (uint64_t)st.st_size > want) {
		r = kb_err_set(KB_ERR_INVALID, "the audit log's last line is too long");
		goto out;
	}
	size_t body_len;
	json_t *j;
	j = json_loadb(buf + start, end - start, 0, NULL);
	json_t *seq = j ? json_object_get(j, "seq") : NULL;
	if (!split_line(buf + start, end - start, &body_len, prev) || !json_is_integer(seq) ||
	    json_integer_value(seq) < 1) {
		json_decref(j);
		r = kb_err_set(KB_ERR_INVALID, "the audit log's last line is not an audit entry: check it with "
					       "'broker audit verify'");
		goto out;
	}
	*ret_seq = (uint64_t)json_integer_value(seq);
	json_decref(j);
out:
	free(buf);
	return r;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int kb_audit_append(struct kb_audit *a, json_t *entry, uint64_t *ret_seq)
{
	uint8_t prev[KB_AUDIT_HASH_BYTES], h[KB_AUDIT_HASH_BYTES];
	char prevhex[HEXLEN + 1], hhex[HEXLEN + 1];
	char *body = NULL, *line = NULL;
	uint64_t seq;
	int r;

	if (!json_is_object(entry) || json_object_get(entry, "seq") || json_object_get(entry, "prev") ||
	    json_object_get(entry, "hash") || json_object_get(entry, "alg"))
		return kb_err_set(KB_ERR_INTERNAL, "bad audit entry");
	pthread_mutex_lock(&a->lock);
	if (flock(a->fd, LOCK_EX) != 0) {
		r = kb_err_errno("audit log: flock");
		goto unlock;
	}
	if ((r = read_tail(a->fd, &seq, prev)) != KB_OK)
		goto out;
	seq++;
	sodium_bin2hex(prevhex, sizeof(prevhex), prev, sizeof(prev));
	json_t *e = json_deep_copy(entry);
	if (e == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	if (json_object_get(e, "time") == NULL) {
		char t[32];
		kb_format_time_utc((int64_t)time(NULL), t, sizeof(t));
		json_object_set_new(e, "time", json_string(t));
	}
	json_object_set_new(e, "seq", json_integer((json_int_t)seq));
	json_object_set_new(e, "alg", json_string(a->key ? "blake2b-256-keyed" : "blake2b-256"));
	json_object_set_new(e, "prev", json_string(prevhex));
	body = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	json_decref(e);
	if (body == NULL || strlen(body) < 2) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	size_t blen = strlen(body) - 1; /* without the closing brace */
	if (blen + SUFFIX_LEN + 1 > KB_AUDIT_LINE_MAX) {
		r = kb_err_set(KB_ERR_TOO_LARGE, "audit entry too long");
		goto out;
	}
	hash_line(a->key, a->keylen, prev, body, blen, h);
	sodium_bin2hex(hhex, sizeof(hhex), h, sizeof(h));
	line = kb_asprintf("%.*s,\"hash\":\"%s\"}\n", (int)blen, body, hhex);
	if (line == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	if (write_all(a->fd, line, strlen(line)) != 0 || fdatasync(a->fd) != 0) {
		r = kb_err_errno(a->path);
		goto out;
	}
	if (ret_seq)
		*ret_seq = seq;
	r = KB_OK;
out:
	flock(a->fd, LOCK_UN);
unlock:
	pthread_mutex_unlock(&a->lock);
	kb_json_free_string(body);
	free(line);
	return r;
}

void kb_audit_report_done(struct kb_audit_report *r)
{
	if (r == NULL)
		return;
	free(r->problems);
	memset(r, 0, sizeof(*r));
}

__attribute__((format(printf, 3, 4))) static int problem(struct kb_audit_report *rep, size_t line,
							   const char *fmt, ...)
{
	struct kb_audit_problem *p = realloc(rep->problems, (rep->nproblems + 1) * sizeof(*p));
	va_list ap;
	if (p == NULL)
		return KB_ERR_NOMEM;
	rep->problems = p;
	p[rep->nproblems].line = line;
	va_start(ap, fmt);
	vsnprintf(p[rep->nproblems].msg, sizeof(p[rep->nproblems].msg), fmt, ap);
	va_end(ap);
	rep->nproblems++;
	return KB_OK;
}

int kb_audit_verify_text(const char *text, size_t len, const uint8_t *key, size_t keylen,
			 struct kb_audit_report *rep)
{
	uint8_t last[KB_AUDIT_HASH_BYTES] = { 0 };
	uint64_t last_seq = 0;
	size_t pos = 0, lineno = 0;
	int r = KB_OK;

	memset(rep, 0, sizeof(*rep));
	while (pos < len && r == KB_OK) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		const char *line = text + pos;
		size_t llen = end - pos;
		uint8_t stored[KB_AUDIT_HASH_BYTES], prev[KB_AUDIT_HASH_BYTES], calc[KB_AUDIT_HASH_BYTES];
		size_t body_len, n = 0;
		json_t *j = NULL;

		lineno++;
		pos = end + 1;
		if (nl == NULL) {
			r = problem(rep, lineno, "incomplete last line (no newline): cut off or appended by hand");
			break;
		}
		if (llen > KB_AUDIT_LINE_MAX || memchr(line, '\0', llen) != NULL ||
		    !split_line(line, llen, &body_len, stored) ||
		    (j = json_loadb(line, llen, 0, NULL)) == NULL) {
			r = problem(rep, lineno, "not an audit entry: damaged or inserted by hand");
			continue;
		}
		rep->entries++;
		json_t *js = json_object_get(j, "seq"), *jp = json_object_get(j, "prev"),
		       *ja = json_object_get(j, "alg");
		if (!json_is_integer(js) || json_integer_value(js) < 1 || !json_is_string(jp) ||
		    !json_is_string(ja) ||
		    sodium_hex2bin(prev, sizeof(prev), json_string_value(jp), json_string_length(jp), NULL, &n,
				   NULL) != 0 || n != sizeof(prev)) {
			json_decref(j);
			r = problem(rep, lineno, "entry lacks seq, alg or prev: damaged or inserted by hand");
			continue;
		}
		bool keyed = strcmp(json_string_value(ja), "blake2b-256-keyed") == 0;
		bool known = keyed || strcmp(json_string_value(ja), "blake2b-256") == 0;
		uint64_t seq = (uint64_t)json_integer_value(js);
		json_decref(j);
		if (!known) {
			r = problem(rep, lineno, "unknown hash algorithm");
			continue;
		}
		if (keyed && key == NULL) {
			r = kb_err_set(KB_ERR_AUTH, "line %zu is keyed: give the audit key (--key FILE or config "
						    "audit.key)", lineno);
			break;
		}
		rep->keyed |= keyed;
		hash_line(keyed ? key : NULL, keylen, prev, line, body_len, calc);
		if (!kb_ct_equal(calc, stored, sizeof(calc)))
			r = problem(rep, lineno, "content does not match its hash: this line was edited%s",
				    keyed ? "" : " (or forged)");
		else if (!keyed && key != NULL)
			r = problem(rep, lineno, "entry is not keyed although a key was given: inserted or forged");
		if (r != KB_OK)
			break;
		if (seq == last_seq + 1 && kb_ct_equal(prev, last, sizeof(prev)))
			; /* the chain holds */
		else if (seq > last_seq + 1)
			r = problem(rep, lineno, "expected seq %llu, found %llu: %llu entr%s deleted or moved before "
						 "this line", (unsigned long long)last_seq + 1, (unsigned long long)seq,
				    (unsigned long long)(seq - last_seq - 1), seq - last_seq - 1 == 1 ? "y" : "ies");
		else if (seq <= last_seq)
			r = problem(rep, lineno, "seq %llu comes after seq %llu: lines reordered or this line "
						 "inserted", (unsigned long long)seq, (unsigned long long)last_seq);
		else
			r = problem(rep, lineno, "does not chain to the line before it (prev hash differs): the "
						 "line before was replaced or inserted");
		memcpy(last, stored, sizeof(last));
		last_seq = seq;
	}
	rep->last_seq = last_seq;
	sodium_bin2hex(rep->head, sizeof(rep->head), last, sizeof(last));
	if (r == KB_OK && rep->nproblems > 0)
		r = KB_ERR_SIGNATURE;
	return r;
}

int kb_audit_verify_file(const char *path, const uint8_t *key, size_t keylen, struct kb_audit_report *rep)
{
	struct kb_buf b;
	int r;

	memset(rep, 0, sizeof(*rep));
	/* Logs grow; cap at 1 GiB so a runaway file cannot eat memory. */
	kb_buf_init(&b, 1024u * 1024u * 1024u);
	r = kb_read_file(path, 1024u * 1024u * 1024u, &b);
	if (r == KB_OK)
		r = kb_audit_verify_text((const char *)kb_buf_ptr(&b), kb_buf_remaining(&b), key, keylen, rep);
	kb_buf_done(&b);
	return r;
}
