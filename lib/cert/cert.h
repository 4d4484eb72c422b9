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
	/* Raw option data (the inner string for critical options such as
	 * force-command; empty for flag extensions). */
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

#endif
