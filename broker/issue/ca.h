/* The certificate authority: its private key is a secret in the configured
 * backend (keybroker/ca/user, keybroker/ca/host), stored as JSON
 * {"kind":"keybroker/ssh-ca/v1","key_type","private_key","public_key",
 *  "created"} so any AWS/Vault client can back it up. */
#ifndef KB_CA_H
#define KB_CA_H

#include <stdbool.h>
#include <stdint.h>

#include "ssh/key.h"

struct kb_store;

#define KB_CA_USER_SECRET "keybroker/ca/user"
#define KB_CA_HOST_SECRET "keybroker/ca/host"

const char *kb_ca_secret_name(bool host);

/* Creates the CA key when the secret does not exist.  KB_ERR_EXISTS when
 * it does (never overwritten).  *ret_pub (may be NULL) gets the public key
 * (new or existing, so callers can print it either way). */
int kb_ca_init(struct kb_store *s, enum kb_key_type type, unsigned bits, bool host, struct kb_key **ret_pub);
/* Loads the CA private key.  KB_ERR_NOT_FOUND with advice when missing. */
int kb_ca_load(struct kb_store *s, bool host, struct kb_key **ret);

/* CA rotation (see broker(1), "ca rotate"): the secret's current version
 * signs; a pending version is the next CA, trusted but not yet signing;
 * the previous version stays trusted until its overlap ends.  The bundle
 * is every CA public key sshd must trust now (TrustedUserCAKeys), the
 * current first.  *ret_keys is an array of *ret_n public keys; free each
 * with kb_key_free and the array with free. */
int kb_ca_bundle(struct kb_store *s, bool host, struct kb_key ***ret_keys, size_t *ret_n);

/* Rotation state: a small secret next to the CA (keybroker/ca/user-rotation,
 * keybroker/ca/host-rotation), JSON {"kind":"keybroker/ca-rotation/v1",
 * "pending":{"version","overlap","created"},
 * "promotion":{"from","to","overlap","started","done","overlap_until"}}.
 * Every write of it is conditional on the version it was based on (an
 * idempotency token "state-after-<version>"): a concurrent writer gets
 * KB_ERR_CONFLICT and the step re-reads and retries. */
#define KB_CA_USER_ROTATION_SECRET "keybroker/ca/user-rotation"
#define KB_CA_HOST_ROTATION_SECRET "keybroker/ca/host-rotation"
const char *kb_ca_rotation_secret_name(bool host);
/* Validates a rotation state document (KB_OK, KB_ERR_INVALID or
 * KB_ERR_TOO_LARGE); used by the fuzz target. */
int kb_ca_state_check(const uint8_t *p, size_t len);

#define KB_CA_VERSION_MAX 64

/* One CA sshd must trust now. */
struct kb_ca_entry {
	struct kb_key *pub;
	unsigned stage;              /* KB_STAGE_CURRENT, _PENDING or _PREVIOUS */
	char version[KB_CA_VERSION_MAX + 1];
	char created[32];            /* from the CA secret, "" if unknown */
	int64_t trusted_until;       /* PREVIOUS: end of the overlap; 0: open
					(a promotion is not finished yet) */
};

struct kb_ca_status {
	struct kb_ca_entry *entries; /* the bundle: current, pending, previous */
	size_t n;
	/* The recorded rotation (all zero / "" without one). */
	char pending_version[KB_CA_VERSION_MAX + 1];
	int64_t pending_overlap;
	char from[KB_CA_VERSION_MAX + 1], to[KB_CA_VERSION_MAX + 1];
	int64_t overlap, started, overlap_until;
	bool promotion_done;
	/* A previous CA that has left the bundle (overlap over, or promoted
	 * by other means than 'broker ca promote'): "" if none. */
	char retired_version[KB_CA_VERSION_MAX + 1];
};
/* Reads the CA secret's stages and the rotation state.  now decides
 * whether the previous CA is still in its overlap. */
int kb_ca_status_read(struct kb_store *s, bool host, int64_t now, struct kb_ca_status *ret);
void kb_ca_status_done(struct kb_ca_status *st);

/* broker ca rotate: creates the next CA as the pending version (key type
 * and bits as for kb_ca_init; KB_KEY_UNSPEC means the current CA's type
 * and size) and records the overlap it is to get.  Idempotent: when a
 * pending CA exists it is kept (res->created false).  overlap 0 means
 * min_overlap; an overlap below min_overlap is KB_ERR_ARGS. */
struct kb_ca_rotate_result {
	bool created;
	char version[KB_CA_VERSION_MAX + 1];
	int64_t overlap;
	struct kb_key *pub;          /* the pending CA */
};
int kb_ca_rotate(struct kb_store *s, bool host, enum kb_key_type type, unsigned bits, int64_t overlap, int64_t min_overlap, struct kb_ca_rotate_result *res);

/* broker ca promote: the pending CA becomes current (it signs from now
 * on), the current one becomes previous and stays in the bundle until
 * overlap_until = (time of the promotion) + overlap.  overlap 0 means the
 * one recorded by rotate, else min_overlap.  Crash-safe: the state is
 * written "promotion started" before the store promotes and "done" with
 * the overlap end after; a rerun finishes an interrupted promotion.
 * Refuses (KB_ERR_CONFLICT, res->blocked_until set) while the previous
 * CA's own overlap is still running: promoting would push it out of the
 * bundle while certificates it signed may still be valid. */
enum kb_ca_promote_outcome {
	KB_CA_PROMOTED = 1,          /* promoted now */
	KB_CA_PROMOTE_FINISHED = 2,  /* finished an interrupted promotion */
	KB_CA_PROMOTE_ALREADY = 3,   /* nothing pending; the last one is done */
};
struct kb_ca_promote_result {
	enum kb_ca_promote_outcome outcome;
	char from[KB_CA_VERSION_MAX + 1], to[KB_CA_VERSION_MAX + 1];
	int64_t overlap, overlap_until;
	int64_t blocked_until;       /* on refusal: when promoting is safe */
	struct kb_key *pub;          /* the CA that signs now */
};
int kb_ca_promote(struct kb_store *s, bool host, int64_t overlap, int64_t min_overlap,
		  struct kb_ca_promote_result *res);
void kb_ca_rotate_result_done(struct kb_ca_rotate_result *res);
void kb_ca_promote_result_done(struct kb_ca_promote_result *res);

/* A random non-zero 63-bit serial (see SECURITY.md: with n certificates
 * ever issued the chance of any repeat is about n^2 / 2^64). */
uint64_t kb_ca_random_serial(void);

#endif
