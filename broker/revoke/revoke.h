/* Revocation records and KRL publishing.
 *
 * The backend secret keybroker/revocations (current version) holds
 *   {"kind":"keybroker/revocations/v1","krl_version":N,
 *    "entries":[{"ca":"<CA public key line>","serial":"42","key_id":"...",
 *                "key":"<public key line>","fingerprint":"SHA256:...",
 *                "identity":"role/name","time":"...","requester":"...",
 *                "reason":"..."}, ...]}
 * Every update is a new current version written with an idempotency token
 * derived from the version it was based on, so two writers that read the
 * same version cannot both succeed: the loser gets KB_ERR_CONFLICT,
 * re-reads and retries.  No entry is ever lost or removed. */
#ifndef KB_REVOKE_H
#define KB_REVOKE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "ssh/key.h"

struct kb_store;

#define KB_REVOCATIONS_SECRET "keybroker/revocations"
#define KB_REVOCATIONS_KIND "keybroker/revocations/v1"
/* The document itself is capped by KB_STORE_VALUE_MAX (64 KiB): about 425
 * serial revocations with time, requester and reason (measured). */
#define KB_REVOKE_MAX_ENTRIES 20000
#define KB_REVOKE_REASON_MAX 256

/* One revocation: any of serial (with ca), key_id (with ca), key. */
struct kb_revocation {
	const struct kb_key *ca;  /* NULL: any CA (key id only) */
	uint64_t serial;          /* 0: none */
	const char *key_id;       /* NULL: none */
	const struct kb_key *key; /* plain public key or NULL */
	const char *identity;     /* informational */
	const char *requester;
	const char *reason;
};

/* Parses and checks a document (at most KB_STORE_VALUE_MAX bytes). */
int kb_revocations_parse(const char *text, size_t len, json_t **ret_doc);

/* Reads the current document (an empty one when the secret does not exist).
 * *ret_version is NULL when there is none yet. */
int kb_revocations_load(struct kb_store *s, json_t **ret_doc, char **ret_version);

/* Adds rev unless an entry already covers it.  *ret_added tells which. */
int kb_revocations_add(struct kb_store *s, const struct kb_revocation *rev, bool *ret_added);

/* Raises the stored krl_version to at least min_version + 1 and returns
 * the new value. */
int kb_revocations_next_krl_version(struct kb_store *s, uint64_t min_version, uint64_t *ret_version);

/* Adds every recorded revocation of doc to krl; *ret_n (may be NULL)
 * gets the number of entries.  A malformed entry is an error. */
struct kb_krl;
int kb_revocations_build_krl(const json_t *doc, struct kb_krl *krl, size_t *ret_n);

/* Does the agent identity (plain key or certificate) match rev? */
bool kb_revocation_matches(const struct kb_revocation *rev, const struct kb_key *k);

#endif
