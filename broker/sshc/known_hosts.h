/* OpenSSH known_hosts checking (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT").
 *
 * Supported: plain names and IP addresses, comma-separated pattern lists
 * with '*' '?' wildcards and '!' negation, "[host]:port" for ports other
 * than 22, hashed names ("|1|salt|hmac", HMAC-SHA1 as ssh-keygen -H
 * writes), "@revoked" lines, comments and blank lines.  "@cert-authority"
 * lines never make kb_known_hosts_check accept a key (libssh2 1.10 cannot
 * negotiate host certificates); kb_known_hosts_check_ca also returns their
 * CA keys, for the certificate fallback in broker/sshc/hostcert.c.
 *
 * The parser works on the whole file text in place: no allocation grows
 * with the input except one bounded key-blob buffer per line. */
#ifndef KB_SSHC_KNOWN_HOSTS_H
#define KB_SSHC_KNOWN_HOSTS_H

#include <stddef.h>
#include <stdint.h>

#define KB_KNOWN_HOSTS_FILE_MAX (64u * 1024u * 1024u)
#define KB_KNOWN_HOSTS_LINE_MAX (64u * 1024u)

enum kb_known_hosts_status {
	KB_KH_UNKNOWN = 0, /* no entry for the host */
	KB_KH_OK,          /* the key is listed for the host */
	KB_KH_MISMATCH,    /* the host is listed, with other keys */
	KB_KH_REVOKED,     /* the key is marked @revoked for this host */
};

/* Host key types listed for the host (plain entries), for the host key
 * algorithm preference. */
#define KB_KH_TYPE_ED25519 0x01u
#define KB_KH_TYPE_ECDSA256 0x02u
#define KB_KH_TYPE_ECDSA384 0x04u
#define KB_KH_TYPE_ECDSA521 0x08u
#define KB_KH_TYPE_RSA 0x10u
#define KB_KH_TYPE_DSA 0x20u

struct kb_known_hosts_result {
	enum kb_known_hosts_status status;
	unsigned line;           /* line of the match / revocation / first other key */
	unsigned types;          /* KB_KH_TYPE_* listed for the host */
	unsigned cert_authority; /* @cert-authority lines matching the host */
	unsigned bad_lines;      /* malformed lines skipped */
};

/* The name a host is looked up by: "host" for port 22, "[host]:port"
 * otherwise.  out needs 270 bytes. */
void kb_known_hosts_lookup_name(const char *host, uint16_t port, char *out, size_t n);

/* Checks `blob` (the server's host key blob) for `name` (from
 * kb_known_hosts_lookup_name) against known_hosts text.  blob may be NULL
 * to only collect the types.  Returns 0 (the verdict is in ret->status) or
 * KB_ERR_TOO_LARGE / KB_ERR_NOMEM / KB_ERR_CRYPTO. */
int kb_known_hosts_check(const char *text, size_t len, const char *name, const uint8_t *blob, size_t bloblen,
			 struct kb_known_hosts_result *ret);

/* The same, also appending to ca_out (when not NULL) the key blob of each
 * well-formed @cert-authority line matching `name`, each as an SSH string
 * (uint32 length + blob).  KB_ERR_TOO_LARGE when ca_out is full. */
int kb_known_hosts_check_ca(const char *text, size_t len, const char *name, const uint8_t *blob, size_t bloblen,
			    struct kb_known_hosts_result *ret, struct kb_buf *ca_out);

/* Exposed for tests: does `name` match the pattern list `pat` (len bytes,
 * comma separated, with wildcards and negation, or one "|1|" hash)?
 * Returns 1 for a match, 0 for none, -1 when a negated pattern matched. */
int kb_known_hosts_match_patterns(const char *pat, size_t len, const char *name);

#endif
