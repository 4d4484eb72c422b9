/* Internal to the local store: its on-disk formats.
 *
 * Layout of a store directory (0700):
 *   store.info          how the master key is obtained, and a verifier
 *   master.key          32 random bytes, 0600 (key-file mode only)
 *   .lock               flock(2) target: shared for reads, exclusive for writes
 *   secrets/<H>/meta    sealed metadata of one secret
 *   secrets/<H>/v<N>    sealed value of version N
 * where H is the hex BLAKE2b of the secret's name keyed with a key derived
 * from the master key, so names do not appear on disk.
 *
 * A sealed file is  "KBLS" | u8 format (1) | u8 kind | nonce[24] | ciphertext
 * (XChaCha20-Poly1305).  The six header bytes and a kind-specific binding are
 * the associated data:
 *   meta:  H as 32 raw bytes (the plaintext name must hash to H)
 *   value: secret id[16] | u32 version | name
 * The metadata also records the BLAKE2b-256 of every version file, so a
 * version file from another secret, another incarnation of this secret or an
 * older write is refused even before decryption.
 *
 * Metadata plaintext (SSH wire encoding, canonical, no trailing bytes):
 *   string "kb-local-meta-v1", string name, string secret_id[16],
 *   u64 created, u64 updated, u32 next_version, string description,
 *   u32 n, n x { u32 number, u32 stages, u64 created, string token,
 *                string file_hash[32] }   (numbers strictly ascending)
 *
 * store.info (not sealed; protected by its verifier):
 *   "KBLS" | u8 1 | u8 kind 3 | u8 mode (1 key file, 2 passphrase) |
 *   u64 opslimit | u64 memlimit | salt[16] | verifier[32]
 * verifier = BLAKE2b-256 keyed with a key derived from the master key over
 * everything before it, so a wrong key, passphrase or edited parameter is
 * reported as such. */
#ifndef KB_STORE_LOCAL_H
#define KB_STORE_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define KB_LOCAL_MAGIC "KBLS"
#define KB_LOCAL_FORMAT 1
#define KB_LOCAL_HDR_LEN 6
#define KB_LOCAL_NONCE_LEN 24
#define KB_LOCAL_TAG_LEN 16
#define KB_LOCAL_OVERHEAD (KB_LOCAL_HDR_LEN + KB_LOCAL_NONCE_LEN + KB_LOCAL_TAG_LEN)
#define KB_LOCAL_META_MAX (256u * 1024u)
#define KB_LOCAL_VERSIONS_MAX 1000u
/* Versions without a stage beyond this many are pruned, oldest first. */
#define KB_LOCAL_KEEP_VERSIONS 100u
#define KB_LOCAL_ID_LEN 16
#define KB_LOCAL_HASH_LEN 32
#define KB_LOCAL_TOKEN_MAX 64
#define KB_LOCAL_DESC_MAX 1024
#define KB_LOCAL_INFO_LEN (KB_LOCAL_HDR_LEN + 1 + 8 + 8 + 16 + 32)
/* Upper bounds on Argon2id parameters accepted from store.info. */
#define KB_LOCAL_OPSLIMIT_MAX 64u
#define KB_LOCAL_MEMLIMIT_MAX (1024u * 1024u * 1024u)

enum kb_local_kind {
	KB_LOCAL_KIND_META = 1,
	KB_LOCAL_KIND_VALUE = 2,
	KB_LOCAL_KIND_INFO = 3,
};

enum kb_local_mode {
	KB_LOCAL_MODE_KEYFILE = 1,
	KB_LOCAL_MODE_PASSPHRASE = 2,
};

struct kb_local_version {
	uint32_t num;
	uint32_t stages;
	int64_t created;
	char token[KB_LOCAL_TOKEN_MAX + 1]; /* "" when none */
	uint8_t file_hash[KB_LOCAL_HASH_LEN];
};

struct kb_local_meta {
	char *name;
	uint8_t secret_id[KB_LOCAL_ID_LEN];
	int64_t created;
	int64_t updated;
	uint32_t next_version;
	char *description; /* never NULL after parse */
	struct kb_local_version *v;
	size_t n;
};

/* Parses metadata plaintext; every structural rule above is checked. */
int kb_local_meta_parse(const uint8_t *p, size_t len, struct kb_local_meta **ret);
int kb_local_meta_encode(const struct kb_local_meta *m, struct kb_buf *out);
void kb_local_meta_free(struct kb_local_meta *m);

struct kb_local_info {
	uint8_t mode;
	uint64_t opslimit;
	uint64_t memlimit;
	uint8_t salt[16];
	uint8_t verifier[32];
};
int kb_local_info_parse(const uint8_t *p, size_t len, struct kb_local_info *ret);
/* Serialises everything but the verifier (the verifier's input). */
void kb_local_info_encode_body(const struct kb_local_info *info, uint8_t out[KB_LOCAL_INFO_LEN - 32]);

/* Seals pt into out (appending the whole file image). */
int kb_local_seal(const uint8_t key[32], uint8_t kind, const uint8_t *bind, size_t bindlen,
		  const uint8_t *pt, size_t ptlen, struct kb_buf *out);
/* Opens a file image; appends the plaintext to out (use a secure buffer for
 * values).  KB_ERR_SIGNATURE when the header or authentication fails. */
int kb_local_unseal(const uint8_t key[32], uint8_t kind, const uint8_t *bind, size_t bindlen,
		    const uint8_t *file, size_t filelen, struct kb_buf *out);

#endif
