/* The tamper-evident audit log.
 *
 * One JSON object per line.  Every entry carries "seq" (1, 2, ...), "prev"
 * (the previous entry's hash, 64 zeros for the first) and, last on the
 * line, "hash": BLAKE2b-256 over a domain label, the previous hash and the
 * exact bytes of the line without its hash member; keyed with the audit key
 * when one is configured ("alg": "blake2b-256-keyed").  An edited, deleted,
 * inserted or reordered line breaks the chain at that line; with a key an
 * attacker who can write the file still cannot forge a consistent chain.
 * Cutting lines off the end is only visible against a remembered head
 * (broker audit verify prints it).
 *
 * Appends take an exclusive flock, read the last entry, write one line with
 * O_APPEND and fsync before returning: a request whose entry cannot be
 * written fails. */
#ifndef KB_AUDIT_H
#define KB_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define KB_AUDIT_LINE_MAX (64u * 1024u)
#define KB_AUDIT_HASH_BYTES 32
#define KB_AUDIT_KEY_MIN 16
#define KB_AUDIT_KEY_MAX 64

struct kb_audit;

/* Opens (creating, mode 0600, parent directory 0700) the log at path.
 * key_path may be NULL (unkeyed); the key file holds 16-64 raw bytes or
 * their hex encoding. */
int kb_audit_open(const char *path, const char *key_path, struct kb_audit **ret);
void kb_audit_close(struct kb_audit *a);
const char *kb_audit_path(const struct kb_audit *a);

/* Appends entry (a JSON object; must not contain seq, prev, alg or hash;
 * "time" is added when absent).  Thread-safe; safe across processes.
 * On success *ret_seq (may be NULL) is the entry's sequence number. */
int kb_audit_append(struct kb_audit *a, json_t *entry, uint64_t *ret_seq);

/* Reads a key file into secure memory (free with kb_secure_free). */
int kb_audit_load_key(const char *path, uint8_t **ret_key, size_t *ret_len);
/* Writes a new random 32-byte key as hex, mode 0600, never overwriting. */
int kb_audit_new_key(const char *path);

struct kb_audit_problem {
	size_t line;
	char msg[256];
};

struct kb_audit_report {
	size_t entries;
	uint64_t last_seq;
	char head[2 * KB_AUDIT_HASH_BYTES + 1];
	bool keyed;
	struct kb_audit_problem *problems;
	size_t nproblems;
};
void kb_audit_report_done(struct kb_audit_report *r);

/* Verifies text (a whole log).  KB_OK when intact; KB_ERR_SIGNATURE when
 * problems were found (listed in rep with their line numbers); other errors
 * for I/O or memory.  Keyed entries need the key (KB_ERR_AUTH without). */
int kb_audit_verify_text(const char *text, size_t len, const uint8_t *key, size_t keylen,
			 struct kb_audit_report *rep);
int kb_audit_verify_file(const char *path, const uint8_t *key, size_t keylen, struct kb_audit_report *rep);

#endif
