/* Revocation records and KRL publishing.
 *
 * Layout in the backend (v2, sharded):
 *
 *   keybroker/revocations                 the head (one secret, <= 64 KiB)
 *     {"kind":"keybroker/revocations/v2","krl_version":N,
 *      "shards":["<24 hex>",...],          sealed shards, oldest first
 *      "entries":[<entry>,...]}            the tail: recent revocations
 *   keybroker/revocations/shards/<24 hex>  a sealed shard (<= 64 KiB)
 *     {"kind":"keybroker/revocation-shard/v1",
 *      "cas":["<CA public key line>",...],
 *      "entries":[<entry with "ca" as an index into cas>,...]}
 *
 * An entry is {"ca":"<CA line>","serial":"42","key_id":"...",
 * "key":"<public key line>","fingerprint":"SHA256:...","identity":"role/name",
 * "valid_before":"<RFC 3339>","time":"...","requester":"...","reason":"..."}
 * (any of serial / key_id with ca, and / or key).
 *
 * Why this cannot lose an entry: the head is the only thing ever replaced,
 * always by compare-and-swap (the idempotency token of a new head version
 * is derived from the version it was based on, so of two writers that
 * read the same head only one can write; the other gets KB_ERR_CONFLICT,
 * re-reads and retries).  Backends remember a bounded number of tokens
 * (local and AWS about 100 versions, Vault 32), so a writer whose base went
 * stale long ago could slip through on the token alone; the writer
 * therefore checks that its base is still the current version right
 * before writing (tests/revoke/test_revoke_store.c shows both).  What
 * remains is a window of one round trip in which 32-100 other writes would
 * have to land.  A shard secret gets a fresh random name, is
 * written exactly once, before the head that names it, and is never
 * changed; it is deleted only after a committed head stopped naming it.
 * When the tail grows past KB_REVOKE_TAIL_MAX bytes the writer seals it:
 * the tail and the last shard are packed into new shards and the head
 * swaps the last shard's name for the new ones in the same CAS.
 *
 * A v1 document (the single-secret format, kind keybroker/revocations/v1,
 * entries only in the head) is read as a head without shards and is
 * rewritten as v2 by the first write.  A v1-only broker then refuses the
 * head ("not a v1 document") instead of overwriting it. */
#ifndef KB_REVOKE_H
#define KB_REVOKE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "ssh/key.h"

struct kb_store;
struct kb_krl;

#define KB_REVOCATIONS_SECRET "keybroker/revocations"
#define KB_REVOCATIONS_KIND "keybroker/revocations/v1"
#define KB_REVOCATIONS_KIND_V2 "keybroker/revocations/v2"
#define KB_REVOCATION_SHARD_KIND "keybroker/revocation-shard/v1"
#define KB_REVOCATION_SHARD_PREFIX "keybroker/revocations/shards/"
#define KB_REVOKE_SHARD_ID_LEN 24

/* Per document (head tail or shard): entries, distinct CAs in a shard. */
#define KB_REVOKE_MAX_ENTRIES 20000
#define KB_REVOKE_MAX_SHARD_CAS 256
/* Shards named by one head (each name costs 27 bytes of the head). */
#define KB_REVOKE_MAX_SHARDS 2000
/* The tail is sealed when it passes this size; shards are packed up to
 * KB_REVOKE_SHARD_TARGET bytes (both below KB_STORE_VALUE_MAX). */
#define KB_REVOKE_TAIL_MAX (56u * 1024u)
#define KB_REVOKE_SHARD_TARGET (60u * 1024u)
#define KB_REVOKE_REASON_MAX 256

/* One revocation: any of serial (with ca), key_id (with ca), key. */
struct kb_revocation {
	const struct kb_key *ca;  /* NULL: any CA (key id only) */
	uint64_t serial;          /* 0: none */
	const char *key_id;       /* NULL: none */
	const struct kb_key *key; /* plain public key or NULL */
	int64_t valid_before;     /* the certificate's expiry, 0: unknown */
	const char *identity;     /* informational */
	const char *requester;
	const char *reason;
};

/* ---- documents (revoke_doc.c) ---- */

/* Parses and checks a head, v1 or v2 (at most KB_STORE_VALUE_MAX bytes).
 * The result is always v2-shaped: a v1 document gets kind v2 and an empty
 * "shards" array, so writing it back migrates it. */
int kb_revocations_parse(const char *text, size_t len, json_t **ret_doc);
/* Parses a shard; entries come back in the full form ("ca" a key line). */
int kb_revocation_shard_parse(const char *text, size_t len, json_t **ret_doc);
/* Encodes entries (full form) as a shard document; KB_ERR_TOO_LARGE when
 * it would not fit in KB_STORE_VALUE_MAX. */
int kb_revocation_shard_encode(const json_t *entries, char **ret_text, size_t *ret_len);

/* The entry for rev without time/requester/reason (NULL on failure). */
json_t *kb_revocation_entry(const struct kb_revocation *rev);
/* 16-byte digest of what an entry revokes (ca, serial, key_id, key). */
void kb_revocation_entry_digest(const json_t *e, uint8_t out[16]);
/* May prune drop e at time now?  Only certificate revocations (serial or
 * key id, no plain key) whose recorded valid_before has passed. */
bool kb_revocation_expired(const json_t *e, int64_t now);

/* Adds every entry of doc["entries"] to krl; *ret_n (may be NULL) gets
 * the number of entries.  A malformed entry is an error. */
int kb_revocations_build_krl(const json_t *doc, struct kb_krl *krl, size_t *ret_n);

/* Does the agent identity (plain key or certificate) match rev? */
bool kb_revocation_matches(const struct kb_revocation *rev, const struct kb_key *k);

/* ---- the backend (revoke_store.c) ---- */

/* Reads a consistent snapshot: the head with "entries" holding every
 * entry (shards first, then the tail).  An empty v2 document when the
 * secret does not exist (*ret_version NULL then). */
int kb_revocations_load(struct kb_store *s, json_t **ret_doc, char **ret_version);

/* Adds each revs[i] unless an entry already covers it (added[i] says
 * which; added may be NULL).  One compare-and-swap for the whole batch. */
int kb_revocations_add_many(struct kb_store *s, const struct kb_revocation *revs, size_t n, bool *added);
int kb_revocations_add(struct kb_store *s, const struct kb_revocation *rev, bool *ret_added);

/* Raises the stored krl_version to at least min_version + 1 and returns
 * the new value. */
int kb_revocations_next_krl_version(struct kb_store *s, uint64_t min_version, uint64_t *ret_version);

/* Drops the entries kb_revocation_expired() says may go (nothing is
 * written with dry_run), then deletes shard secrets that no head names and
 * that are older than KB_REVOKE_GC_AGE seconds (younger ones may belong to
 * a writer that is about to commit). */
#define KB_REVOKE_GC_AGE 3600
struct kb_revocations_prune_result {
	json_t *dropped; /* the dropped entries */
	size_t kept, shards_before, shards_after;
	size_t gc_removed, gc_young; /* unreferenced shards deleted / left */
};
int kb_revocations_prune(struct kb_store *s, int64_t now, bool dry_run, struct kb_revocations_prune_result *ret);
void kb_revocations_prune_result_done(struct kb_revocations_prune_result *res);

#endif
