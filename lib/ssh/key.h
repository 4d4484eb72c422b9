/* SSH keys: Ed25519 (libsodium), ECDSA P-256/384/521, RSA and legacy DSA
 * (OpenSSL 3 EVP).
 *
 * A struct kb_key holds a public key and optionally its private half and/or
 * an OpenSSH certificate (struct kb_cert, see cert/cert.h).  Private
 * material lives in libsodium guarded memory and is wiped by kb_key_free().
 *
 * Conventions: functions return KB_OK or a negative enum kb_err; out
 * parameters are named ret_* and are set to NULL/0 on entry and only filled
 * on success; ownership of a returned object passes to the caller. */
#ifndef KB_KEY_H
#define KB_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum kb_key_type {
	KB_KEY_UNSPEC = 0,
	KB_KEY_ED25519,
	KB_KEY_ECDSA_P256,
	KB_KEY_ECDSA_P384,
	KB_KEY_ECDSA_P521,
	KB_KEY_RSA,
	KB_KEY_DSA, /* read, sign and verify only (the agent test-suite uses it) */
};

/* Limits applied before any allocation. */
#define KB_KEY_RSA_MIN_BITS 1024  /* accepted on input (agent); generation needs 2048 */
#define KB_KEY_RSA_MAX_BITS 16384
#define KB_KEY_BLOB_MAX (16u * 1024u)        /* public key or certificate blob */
#define KB_KEY_PRIVATE_FILE_MAX (64u * 1024u) /* openssh-key-v1 text */

struct kb_key;
struct kb_cert;

/* Type names. */
/* "ssh-ed25519", "ecdsa-sha2-nistp256", ... or the -cert-v01@openssh.com
 * name when the key carries a certificate. */
const char *kb_key_ssh_name(const struct kb_key *k);
/* Plain type name ignoring any certificate. */
const char *kb_key_type_ssh_name(enum kb_key_type t);
/* "ED25519", "ECDSA", "RSA", "DSA" as ssh-keygen -l prints in parentheses;
 * with "-CERT" appended for certificates. */
const char *kb_key_type_label(const struct kb_key *k);
/* Parses "ed25519", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa",
 * "rsa-2048", "rsa-3072", "rsa-4096" (also ssh-keygen's "ecdsa" with bits).
 * Returns KB_ERR_UNSUPPORTED for unknown names. */
int kb_key_type_from_cli(const char *name, enum kb_key_type *ret_type, unsigned *ret_bits);
/* Maps an SSH wire name (plain or -cert-v01) to a type; *ret_cert tells
 * whether it was a certificate name. */
int kb_key_type_from_ssh_name(const char *name, enum kb_key_type *ret_type, bool *ret_cert);

/* Lifecycle. */
/* bits: 0 for the default (RSA 3072); ignored for Ed25519/ECDSA. */
int kb_key_generate(enum kb_key_type type, unsigned bits, struct kb_key **ret);
void kb_key_free(struct kb_key *k);
/* A new key with only the public half (and a copy of the certificate). */
int kb_key_dup_public(const struct kb_key *k, struct kb_key **ret);
/* A full copy (private half too, in new guarded memory). */
int kb_key_dup(const struct kb_key *k, struct kb_key **ret);

/* Properties. */
enum kb_key_type kb_key_type(const struct kb_key *k);
unsigned kb_key_bits(const struct kb_key *k);
/* Fixed size of Ed25519/ECDSA/DSA types (256, 384, 521, 1024); 0 for RSA. */
unsigned kb_key_bits_for_type(enum kb_key_type t);
bool kb_key_is_private(const struct kb_key *k);
bool kb_key_is_cert(const struct kb_key *k);
/* The certificate, or NULL (borrowed). */
const struct kb_cert *kb_key_cert(const struct kb_key *k);
/* Attaches cert (taking ownership) after checking its public key equals
 * k's; replaces any certificate already attached. */
int kb_key_attach_cert(struct kb_key *k, struct kb_cert *cert);
/* Drops the certificate, keeping the plain key. */
void kb_key_drop_cert(struct kb_key *k);
/* Equality of the plain public keys (certificates ignored). */
bool kb_key_equal_public(const struct kb_key *a, const struct kb_key *b);

/* Public key blob (RFC 4253 6.6).  With a certificate attached,
 * kb_key_public_blob writes the certificate blob; kb_key_plain_blob always
 * writes the plain key. */
int kb_key_public_blob(const struct kb_key *k, struct kb_buf *out);
int kb_key_plain_blob(const struct kb_key *k, struct kb_buf *out);
/* Parses a plain key or certificate blob; rejects trailing bytes. */
int kb_key_from_blob(const uint8_t *blob, size_t len, struct kb_key **ret);

/* The type-specific public fields (what follows the type name in a plain
 * blob, and what a certificate embeds after its nonce). */
int kb_key_put_public_fields(const struct kb_key *k, struct kb_buf *out);
int kb_key_get_public_fields(enum kb_key_type type, struct kb_buf *in, struct kb_key **ret);

/* Fingerprint as ssh-keygen prints it: "SHA256:<unpadded base64>" (of the
 * plain key blob, so a certificate has its key's fingerprint).  `out`
 * needs KB_KEY_FP_MAX bytes. */
#define KB_KEY_FP_MAX 64
int kb_key_fingerprint(const struct kb_key *k, char *out, size_t n);

/* authorized_keys / .pub line: "<type> <base64> [comment]". */
int kb_key_format_public_line(const struct kb_key *k, const char *comment, char **ret_line);
/* Parses one such line (leading options as in authorized_keys are NOT
 * accepted; comment optional); ret_comment may be NULL. */
int kb_key_parse_public_line(const char *line, struct kb_key **ret, char **ret_comment);

/* Private key serialisation as used inside openssh-key-v1 and by the
 * agent's add-identity messages (PROTOCOL.agent / sshkey_private_serialize):
 * type name string followed by the type's fields.  Certificates are
 * "<type>-cert-v01@openssh.com", the cert blob, then the private fields.
 * Does not read or write the comment.  The output buffer should be secure
 * (kb_buf_init_secure). */
int kb_key_private_serialize(const struct kb_key *k, struct kb_buf *out);
int kb_key_private_deserialize(struct kb_buf *in, struct kb_key **ret);

/* openssh-key-v1 file ("-----BEGIN OPENSSH PRIVATE KEY-----").
 * Parsing: passphrase may be NULL; an encrypted file with a NULL or wrong
 * passphrase gives KB_ERR_PASSPHRASE.  ret_comment may be NULL. */
int kb_key_parse_private_file(const char *text, size_t len, const char *passphrase,
			      struct kb_key **ret, char **ret_comment);
/* Only the public key stored in the clear in an openssh-key-v1 file (works
 * for encrypted files without the passphrase, as ssh-keygen -l does). */
int kb_key_parse_private_file_public(const char *text, size_t len, struct kb_key **ret);
/* Writes an unencrypted openssh-key-v1 file into out (use a secure buf). */
int kb_key_write_private_file(const struct kb_key *k, const char *comment, struct kb_buf *out);
/* The same, encrypted like ssh-keygen -N (bcrypt KDF with `rounds`, 0 for
 * ssh-keygen's default 16; aes256-ctr).  NULL or "" passphrase: plain. */
int kb_key_write_private_file_encrypted(const struct kb_key *k, const char *comment, const char *passphrase,
					unsigned rounds, struct kb_buf *out);

/* Signatures.
 * alg selects the RSA hash: "rsa-sha2-256", "rsa-sha2-512", "ssh-rsa"
 * (SHA-1), or NULL for the key's default (rsa-sha2-512 for RSA).  It must
 * be NULL or match the key type for other keys.  The signature is written
 * in SSH wire form: string(alg name) string(sig bytes). */
int kb_key_sign(const struct kb_key *k, const uint8_t *data, size_t len, const char *alg,
		struct kb_buf *sig_out);
/* Verifies an SSH wire signature over data.  If required_alg is non-NULL
 * the signature's algorithm must equal it.  KB_ERR_SIGNATURE on mismatch. */
int kb_key_verify(const struct kb_key *k, const uint8_t *sig, size_t siglen, const uint8_t *data,
		  size_t len, const char *required_alg);
/* The algorithm name inside a wire signature (heap string). */
int kb_sig_get_alg(const uint8_t *sig, size_t siglen, char **ret_alg);

#endif
