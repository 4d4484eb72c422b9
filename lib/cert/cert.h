/* OpenSSH certificates (PROTOCOL.certkeys): *-cert-v01@openssh.com.
 *
 * The struct is public so callers can read fields directly; build new
 * certificates with kb_cert_new() + fields + kb_cert_sign(). */
#ifndef KB_CERT_H
#define KB_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "ssh/key.h"

#define KB_CERT_TYPE_USER 1
#define KB_CERT_TYPE_HOST 2
#define KB_CERT_MAX_PRINCIPALS 256
#define KB_CERT_MAX_OPTIONS 64
#define KB_CERT_VALID_FOREVER UINT64_MAX

struct kb_cert_option {
	char *name;
	/* The option's value: OpenSSH wraps a valued option's data in an SSH
	 * string (force-command, source-address, custom name=value); this is
	 * that inner string's bytes, unwrapped.  Flags (permit-pty,
	 * verify-required, ...) have data_len 0 (data may be NULL).  The parser
	 * rejects option data that is not exactly one string, and the encoder
	 * wraps non-empty data again, so a value cannot be empty.  Use
	 * kb_cert_option_string() for a NUL-terminated copy. */
	uint8_t *data;
	size_t data_len;
};

struct kb_cert {
	uint32_t type;             /* KB_CERT_TYPE_USER or _HOST */
	uint64_t serial;
	char *key_id;
	char **principals;
	size_t nprincipals;
	uint64_t valid_after;
	uint64_t valid_before;
	struct kb_cert_option *critical;
	size_t ncritical;
	struct kb_cert_option *extensions;
	size_t nextensions;
	struct kb_key *key;        /* certified public key */
	struct kb_key *ca_key;     /* signature key (public) */
	uint8_t nonce[32];
	size_t nonce_len;
	struct kb_buf blob;        /* full encoded certificate once signed/parsed */
	size_t signed_len;         /* bytes of blob covered by the signature */
	char *sig_alg;             /* signature algorithm, once signed/parsed */
};

/* Parses a certificate blob (checks structure, sorted unique options,
 * limits; does NOT check the CA signature: call kb_cert_verify). */
int kb_cert_parse(const uint8_t *blob, size_t len, struct kb_cert **ret);
void kb_cert_free(struct kb_cert *c);
int kb_cert_dup(const struct kb_cert *c, struct kb_cert **ret);
/* The encoded blob (cert must be parsed or signed). */
int kb_cert_blob(const struct kb_cert *c, struct kb_buf *out);

/* ---- Building and signing (cert.c, owned by the cert area) ----
 * Conventions as in ssh/key.h: KB_OK or a negative enum kb_err, ret_*
 * outputs NULL on entry and filled only on success. */

/* Extension names ssh-keygen knows as flags, and the critical options. */
#define KB_CERT_EXT_X11 "permit-X11-forwarding"
#define KB_CERT_EXT_AGENT "permit-agent-forwarding"
#define KB_CERT_EXT_PORT "permit-port-forwarding"
#define KB_CERT_EXT_PTY "permit-pty"
#define KB_CERT_EXT_USER_RC "permit-user-rc"
#define KB_CERT_EXT_NO_TOUCH "no-touch-required"
#define KB_CERT_OPT_FORCE_COMMAND "force-command"
#define KB_CERT_OPT_SOURCE_ADDRESS "source-address"
#define KB_CERT_OPT_VERIFY_REQUIRED "verify-required"
#define KB_CERT_KEY_ID_MAX 1024
#define KB_CERT_PRINCIPAL_MAX 255

/* A new unsigned certificate of `type` for a copy of key's plain public
 * key: serial 0, empty key id, no principals, valid "forever"
 * (0..KB_CERT_VALID_FOREVER), and for user certificates ssh-keygen's
 * default extensions (the five permit-*). */
int kb_cert_new(uint32_t type, const struct kb_key *key, struct kb_cert **ret);
/* Key id: printable (no control characters), <= KB_CERT_KEY_ID_MAX. */
int kb_cert_set_key_id(struct kb_cert *c, const char *key_id);
/* One principal: non-empty, no comma, no control character, <=
 * KB_CERT_PRINCIPAL_MAX bytes; duplicates are ignored. */
int kb_cert_add_principal(struct kb_cert *c, const char *principal);
/* Adds each comma-separated principal of list (ssh-keygen -n). */
int kb_cert_add_principals(struct kb_cert *c, const char *list);
/* KB_ERR_INVALID unless valid_after < valid_before. */
int kb_cert_set_validity(struct kb_cert *c, uint64_t valid_after, uint64_t valid_before);
/* Sets (replacing) a critical option or extension.  value NULL or ""
 * makes a flag; otherwise the value is stored (and encoded as
 * string(value)).  Known names are checked:
 * force-command needs a value, source-address needs a valid CIDR list
 * (kb_cert_check_source_address), verify-required and the permit-*
 * extensions take no value.  Options are kept sorted by name. */
int kb_cert_set_critical(struct kb_cert *c, const char *name, const char *value);
int kb_cert_set_extension(struct kb_cert *c, const char *name, const char *value);
/* Removes an option/extension by name (no error if absent). */
void kb_cert_remove_critical(struct kb_cert *c, const char *name);
void kb_cert_remove_extension(struct kb_cert *c, const char *name);
/* Drops all critical options and extensions (ssh-keygen -O clear). */
void kb_cert_clear_options(struct kb_cert *c);
/* Finds an option by name (NULL if absent; borrowed). */
const struct kb_cert_option *kb_cert_find_critical(const struct kb_cert *c, const char *name);
const struct kb_cert_option *kb_cert_find_extension(const struct kb_cert *c, const char *name);
/* The value of a valued option as a heap string (KB_ERR_INVALID for a
 * flag or a value containing NUL). */
int kb_cert_option_string(const struct kb_cert_option *o, char **ret);
/* Validates a source-address list like OpenSSH: comma-separated IPv4/IPv6
 * addresses with optional /masklen, host bits zero. */
int kb_cert_check_source_address(const char *list);

/* Signs: fresh random 32-byte nonce, the CA's plain public key, and a
 * signature with `alg` (NULL: the CA's default; rsa-sha2-512 for RSA).
 * Fills c->blob, c->signed_len, c->sig_alg, c->ca_key. */
int kb_cert_sign(struct kb_cert *c, const struct kb_key *ca_key, const char *alg);
/* Verifies the CA signature over the first signed_len bytes of the blob;
 * the CA key must not itself be a certificate.  KB_ERR_SIGNATURE when the
 * signature is wrong. */
int kb_cert_verify(const struct kb_cert *c);
/* KB_ERR_EXPIRED unless valid_after <= now < valid_before (OpenSSH). */
int kb_cert_check_time(const struct kb_cert *c, uint64_t now);
/* KB_ERR_DENIED unless `name` is listed.  A certificate without
 * principals matches any name only when allow_empty (OpenSSH accepts that
 * for host certificates; sshd refuses it for user certificates). */
int kb_cert_check_principal(const struct kb_cert *c, const char *name, bool allow_empty);

/* The wire name, e.g. "ssh-ed25519-cert-v01@openssh.com". */
const char *kb_cert_type_name(const struct kb_cert *c);
/* "user" or "host". */
const char *kb_cert_kind(const struct kb_cert *c);
/* A .pub line "<cert name> <base64 blob>[ comment]" (heap string). */
int kb_cert_format_line(const struct kb_cert *c, const char *comment, char **ret_line);

/* ---- Display (cert_show.c) ---- */
/* Parses ssh-keygen's -V validity specification (see ssh-keygen(1)):
 * "+30m", "-1d:+1w", "always:forever", "20260101:20270101Z", "0x...". */
int kb_cert_parse_validity(const char *spec, int64_t now, uint64_t *ret_after,
			   uint64_t *ret_before);
/* "forever", "from A to B", "after A", "before B" with local times as
 * ssh-keygen prints them; out needs 64 bytes. */
void kb_cert_format_validity(const struct kb_cert *c, char *out, size_t n);
/* The body ssh-keygen -L prints for one certificate (each line indented by
 * 8 spaces, newline-terminated), without the "FILE:" header line. */
int kb_cert_format_text(const struct kb_cert *c, char **ret_text);
/* A JSON object string with every field (compact, newline-terminated). */
int kb_cert_format_json(const struct kb_cert *c, char **ret_json);

#endif
