/* Parsers and builders for Vault's JSON responses and request bodies (KV v2,
 * token and AppRole auth).  Pure functions over bytes, so each parser has a
 * fuzz target (tests/vault/fuzz_vault_*.c).
 *
 * Every parser refuses input above its cap before parsing (KB_ERR_TOO_LARGE),
 * rejects duplicate keys and wrong types (KB_ERR_INVALID with a detail), and
 * leaves its output zeroed on error.  The caller should have routed jansson
 * through kb_json_use_wiping_alloc(): secret values pass through jansson.
 *
 * Keybroker's record inside a KV v2 version (data.data):
 *   "value" (UTF-8 text) or "value_base64" (other bytes): the secret;
 *   "keybroker": {"format":1, "record":"value"|"stages",
 *                 "stages":{"current":N,"pending":N,"previous":N},
 *                 "values":[N...], "tokens":[{"token":T,"version":N,"sha256":H}...],
 *                 "copy_of":N}
 * The newest version's "keybroker" object is the authoritative stage map;
 * a "stages" record (written by promote) carries a copy of the promoted
 * value so plain Vault clients reading the newest version see it. */
#ifndef KB_VAULT_JSON_H
#define KB_VAULT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define KB_VAULT_JSON_MAX (1024u * 1024u)   /* data responses */
#define KB_VAULT_SMALL_JSON_MAX (64u * 1024u) /* auth, errors, writes */
#define KB_VAULT_MAX_TOKENS 32               /* idempotency tokens kept */
#define KB_VAULT_MAX_VALUES 256              /* value versions tracked */
#define KB_VAULT_MAX_LIST 10000              /* keys in one LIST answer */
#define KB_VAULT_TOKEN_MAX 4096              /* a Vault token's length */
#define KB_VAULT_VERSION_LIMIT (UINT64_C(1) << 53)

/* First message of a {"errors":[...]} body, made printable and cut to n-1
 * bytes ("" when there is none).  Returns KB_OK or KB_ERR_INVALID when
 * the body is not such an object; out is always a C string. */
int kb_vault_parse_errors(const uint8_t *p, size_t n, char *out, size_t outn);

/* An "auth" block (login, renew-self, token create). */
struct kb_vault_auth {
	char *token;          /* guarded memory (kb_secure_alloc), or NULL */
	int64_t lease_duration;
	bool renewable;
};
int kb_vault_parse_auth(const uint8_t *p, size_t n, struct kb_vault_auth *ret);
void kb_vault_auth_done(struct kb_vault_auth *a);

/* data of auth/token/lookup-self: remaining ttl, creation_ttl (seconds,
 * 0 for tokens that never expire) and renewable. */
struct kb_vault_lookup {
	int64_t ttl, creation_ttl;
	bool renewable;
};
int kb_vault_parse_lookup(const uint8_t *p, size_t n, struct kb_vault_lookup *ret);

struct kb_vault_token_ref {
	char token[65];
	uint64_t version;
	uint8_t sha256[32];
};

/* Keybroker's stage map as kept in a version (see above). */
struct kb_vault_state {
	bool present;           /* false: a secret not written by keybroker */
	bool stage_record;      /* written by promote */
	uint64_t current, pending, previous, copy_of; /* 0 = none */
	uint64_t values[KB_VAULT_MAX_VALUES];
	size_t nvalues;
	struct kb_vault_token_ref tokens[KB_VAULT_MAX_TOKENS];
	size_t ntokens;
};

/* One version read from data/<path>. */
struct kb_vault_record {
	uint64_t version;
	int64_t created;
	bool deleted, destroyed;
	bool has_data;          /* data.data was an object */
	struct kb_vault_state state;
	struct kb_buf value;    /* secure; the secret bytes (see below) */
};
/* Parses a read of data/<path> (also a 404 body for a deleted version:
 * has_data is then false).  The value is "value", or "value_base64"
 * decoded, or for a secret not written by keybroker the whole data.data
 * object as compact JSON with sorted keys. */
int kb_vault_parse_record(const uint8_t *p, size_t n, struct kb_vault_record *ret);
void kb_vault_record_done(struct kb_vault_record *r);

/* The answer to a data write: data.version. */
int kb_vault_parse_write(const uint8_t *p, size_t n, uint64_t *ret_version);

struct kb_vault_meta_version {
	uint64_t version;
	int64_t created;
	bool deleted, destroyed;
};
struct kb_vault_meta {
	uint64_t current_version, oldest_version;
	int64_t created, updated;
	struct kb_vault_meta_version *versions; /* sorted by version */
	size_t nversions;
};
int kb_vault_parse_metadata(const uint8_t *p, size_t n, struct kb_vault_meta *ret);
void kb_vault_meta_done(struct kb_vault_meta *m);

/* data.keys of a LIST answer: names, folders end in '/'.  Refuses keys
 * that are empty, contain "..", control characters or a '/' anywhere but
 * at the end. */
int kb_vault_parse_list(const uint8_t *p, size_t n, char ***ret_keys, size_t *ret_n);

/* {"data":{"value"...,"keybroker":{...}},"options":{"cas":cas}} into out
 * (a secure buffer). */
int kb_vault_build_write(const uint8_t *value, size_t len, const struct kb_vault_state *st,
			 uint64_t cas, struct kb_buf *out);

#endif
