/* broker-agent's identity table.
 *
 * Readers never block writers for long: the table is an immutable snapshot
 * (array of refcounted identities plus a cached IDENTITIES_ANSWER body and a
 * hash index by public blob).  A reader takes a reference to the current
 * snapshot under a short mutex, then works without any lock (signing
 * included); a writer builds a new snapshot and swaps it in.  An identity
 * (and its private key, in guarded memory) is freed when the last snapshot
 * holding it is released.
 *
 * Retired identities: replace-identity@keybroker does not drop the identity
 * it replaces at once.  An ssh client lists identities, asks the server
 * whether a key is acceptable, then sends a sign request naming the blob it
 * listed; a replace landing in between would make that request fail
 * ("agent refused operation").  So the replaced identity is "retired": it
 * is no longer listed (nor found by add, remove or replace as a live
 * identity), but a sign request naming its exact blob is still served until
 * its grace period ends (KB_AGENT_REPLACE_GRACE_MS after the replace, never
 * past its own death or its certificate's valid_before).  Removing its key
 * (by its blob or by any identity with the same underlying key), removing
 * everything, and locking the agent drop retired identities; the reaper
 * wipes them when the grace ends.  Only replace creates them.
 *
 * Times: `death` is on the monotonic clock in milliseconds (0 = never). */
#ifndef KB_AGENT_KEYSTORE_H
#define KB_AGENT_KEYSTORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct kb_key;

struct kb_agent_hop {
	char *user;     /* NULL when empty */
	char *hostname; /* NULL when empty */
	struct kb_key **keys;
	bool *is_ca;
	size_t nkeys;
};

struct kb_agent_destcon {
	struct kb_agent_hop from;
	struct kb_agent_hop to;
};

struct kb_agent_identity {
	atomic_uint refs;
	struct kb_key *key;    /* private key, possibly with certificate */
	char *comment;
	struct kb_buf blob;    /* public blob as listed (certificate blob for certs) */
	uint64_t hash;
	int64_t death;         /* monotonic ms, 0 = none */
	uint32_t lifetime;     /* seconds requested, 0 = none */
	bool confirm;
	bool is_cert;
	uint64_t valid_after;  /* certificate window (seconds since epoch) */
	uint64_t valid_before;
	struct kb_agent_destcon *dcs;
	size_t ndcs;
};

/* How long a replaced identity still answers sign requests for its exact
 * blob, and how many replaced identities are kept at most (the oldest is
 * dropped first). */
#define KB_AGENT_REPLACE_GRACE_MS 60000
#define KB_AGENT_RETIRED_MAX 32

struct kb_agent_retired {
	struct kb_agent_identity *id;
	int64_t until; /* monotonic ms: refused from this time on */
};

struct kb_agent_table {
	atomic_uint refs;
	size_t n;
	struct kb_agent_identity **ids;
	size_t nretired;       /* oldest first */
	struct kb_agent_retired *retired;
	size_t index_cap;      /* power of two, >= 2n */
	int32_t *index;        /* slots hold positions in ids, -1 when empty */
	int64_t next_death;    /* earliest death or end of grace, 0 = none */
	uint64_t next_cert_end; /* earliest certificate valid_before, 0 = none */
	struct kb_buf list_reply; /* complete IDENTITIES_ANSWER body */
};

struct kb_agent_keystore {
	pthread_mutex_t mu;
	pthread_cond_t changed;    /* signalled on every swap (the reaper waits) */
	struct kb_agent_table *cur;
	uint64_t generation;
};

int kb_agent_keystore_init(struct kb_agent_keystore *ks);
/* Frees every identity (wiping keys).  No reader may be active. */
void kb_agent_keystore_done(struct kb_agent_keystore *ks);

/* Snapshot access. */
struct kb_agent_table *kb_agent_keystore_acquire(struct kb_agent_keystore *ks);
void kb_agent_table_release(struct kb_agent_table *t);
/* The live identity with exactly this public blob, or NULL. */
struct kb_agent_identity *kb_agent_table_find(const struct kb_agent_table *t, const uint8_t *blob,
					      size_t len);
/* The retired identity with exactly this public blob whose grace has not
 * ended at these times (and which is not dead), or NULL. */
struct kb_agent_identity *kb_agent_table_find_retired(const struct kb_agent_table *t, const uint8_t *blob,
						      size_t len, int64_t now_ms, int64_t now_real);

/* Identity objects. */
struct kb_agent_identity *kb_agent_identity_new(void);
void kb_agent_identity_unref(struct kb_agent_identity *id);
void kb_agent_destcons_free(struct kb_agent_destcon *dcs, size_t n);

/* Writers.  All take ownership of `id` (also on failure).
 * add: inserts, or replaces an identity with the same blob in place (a
 *   retired identity with that blob is dropped: the new one answers).
 * replace: replaces the live identity whose blob is old_blob by id, in the
 *   same position, in one swap; KB_ERR_NOT_FOUND (nothing changed) if
 *   absent.  If id's blob equals another live identity's, that one is
 *   dropped.  The old identity is retired until now_ms + grace_ms (capped
 *   at its death; grace_ms <= 0 drops it at once). */
int kb_agent_keystore_add(struct kb_agent_keystore *ks, struct kb_agent_identity *id);
int kb_agent_keystore_replace(struct kb_agent_keystore *ks, const uint8_t *old_blob, size_t old_len,
			      struct kb_agent_identity *id, int64_t now_ms, int64_t grace_ms);
/* Removes the live identity with this blob, and every retired identity with
 * this blob or holding the same key (certificate or not).  KB_ERR_NOT_FOUND
 * when nothing was removed. */
int kb_agent_keystore_remove(struct kb_agent_keystore *ks, const uint8_t *blob, size_t len);
/* Drops everything, live and retired. */
int kb_agent_keystore_remove_all(struct kb_agent_keystore *ks);
/* Drops every retired identity (on lock). */
int kb_agent_keystore_drop_retired(struct kb_agent_keystore *ks);
/* True when t holds an identity that is dead at these times. */
bool kb_agent_table_has_expired(const struct kb_agent_table *t, int64_t now_ms, int64_t now_real);
/* Removes identities whose death <= now_ms or whose certificate's
 * valid_before <= now_real, and retired ones whose grace has ended; returns
 * how many (or < 0). */
int kb_agent_keystore_expire(struct kb_agent_keystore *ks, int64_t now_ms, int64_t now_real);

#endif
