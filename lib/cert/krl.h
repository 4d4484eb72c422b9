/* OpenSSH Key Revocation Lists (PROTOCOL.krl).
 *
 * A KRL revokes certificates by serial (single, range, bitmap) or key id
 * under one CA key or under any CA, and plain keys by explicit blob, SHA1
 * or SHA256 hash.  kb_krl_parse() reads every section OpenSSH writes;
 * signature sections (KRL_SECTION_SIGNATURE, never written by ssh-keygen)
 * are skipped without verification, and only signature sections may
 * follow one.  kb_krl_write() writes the format ssh-keygen -Q and sshd's
 * RevokedKeys read (never a signature section).
 *
 * Conventions as in ssh/key.h: KB_OK or a negative enum kb_err; ret_*
 * outputs NULL on entry; kb_krl_free accepts NULL. */
#ifndef KB_KRL_H
#define KB_KRL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "ssh/key.h"

/* Limits applied before allocation. */
#define KB_KRL_MAX_SIZE (16u * 1024u * 1024u) /* whole KRL file */
#define KB_KRL_MAX_ENTRIES (1u << 20)          /* serials/ranges/ids/keys/hashes */
#define KB_KRL_MAX_CAS 4096                    /* certificate sections' CA keys */
#define KB_KRL_KEY_ID_MAX 1024

struct kb_krl;
struct kb_cert;

int kb_krl_new(struct kb_krl **ret);
void kb_krl_free(struct kb_krl *krl);

/* Header fields. */
void kb_krl_set_version(struct kb_krl *krl, uint64_t version);
uint64_t kb_krl_version(const struct kb_krl *krl);
void kb_krl_set_generated_date(struct kb_krl *krl, uint64_t t);
uint64_t kb_krl_generated_date(const struct kb_krl *krl);
int kb_krl_set_comment(struct kb_krl *krl, const char *comment);
const char *kb_krl_comment(const struct kb_krl *krl); /* never NULL */

/* Revocations.  ca NULL means "any CA" (the empty ca_key section).
 * Serial 0 cannot be revoked (OpenSSH treats 0 as "no serial"). */
int kb_krl_revoke_serial_range(struct kb_krl *krl, const struct kb_key *ca, uint64_t lo, uint64_t hi);
int kb_krl_revoke_key_id(struct kb_krl *krl, const struct kb_key *ca, const char *key_id);
/* The plain public key (a certificate's key when k carries one). */
int kb_krl_revoke_key(struct kb_krl *krl, const struct kb_key *k);
int kb_krl_revoke_key_sha256(struct kb_krl *krl, const struct kb_key *k);
int kb_krl_revoke_key_sha1(struct kb_krl *krl, const struct kb_key *k);
/* A fingerprint as ssh-keygen -l prints it: "SHA256:<base64>". */
int kb_krl_revoke_fingerprint(struct kb_krl *krl, const char *fingerprint);

/* Reads a binary KRL (rejects trailing or unknown sections). */
int kb_krl_parse(const uint8_t *data, size_t len, struct kb_krl **ret);
/* Appends the binary KRL to out. */
int kb_krl_write(const struct kb_krl *krl, struct kb_buf *out);

/* KB_OK when not revoked, KB_ERR_REVOKED (with a detail saying why:
 * kb_err_detail()) when revoked, another error on bad input.
 * kb_krl_check_key checks a plain key, or, when k carries a certificate,
 * the certificate as kb_krl_check_cert does.  kb_krl_check_cert checks the
 * certified key, the serial (non-zero) and key id under the signing CA and
 * under "any CA", and the CA key itself (sshd refuses a certificate whose
 * CA is revoked; ssh-keygen -Q does not look at the CA). */
int kb_krl_check_key(const struct kb_krl *krl, const struct kb_key *k);
int kb_krl_check_cert(const struct kb_krl *krl, const struct kb_cert *c);

/* Human-readable listing (like ssh-keygen -Q -l) and a JSON object. */
int kb_krl_format_text(const struct kb_krl *krl, char **ret_text);
int kb_krl_format_json(const struct kb_krl *krl, char **ret_json);

#endif
