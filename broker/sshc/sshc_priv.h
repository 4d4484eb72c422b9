/* Internals shared by the files of broker/sshc. */
#ifndef KB_SSHC_PRIV_H
#define KB_SSHC_PRIV_H

#include <libssh2.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "sshc/sshc.h"

struct kb_key;

#define KB_SSHC_DEFAULT_CONNECT_MS 10000
#define KB_SSHC_DEFAULT_COMMAND_MS 30000
#define KB_SSHC_OUTPUT_MAX (1024u * 1024u)

struct kb_sshc {
	LIBSSH2_SESSION *s;
	int fd;
	struct kb_ssh_target t;
	char name[300];      /* "user@host:port" for messages */
	int command_timeout_ms;
	char *authorized_keys; /* copy of opts->authorized_keys, or NULL */
	bool broken;         /* a step was abandoned midway: no further use */
	bool dropped;        /* kb_sshc_drop done */
};

int64_t kb_sshc_now_ms(void);
/* Waits until the socket is ready in the direction libssh2 is blocked on,
 * or fails with KB_ERR_TIMEOUT ("<name>: timed out <what>"). */
int kb_sshc_wait(struct kb_sshc *c, int64_t deadline, const char *what);
/* The same, also waking on the poll events `extra`. */
int kb_sshc_wait_ev(struct kb_sshc *c, int64_t deadline, const char *what, short extra);
/* Abandons the connection (after a timeout): best-effort disconnect,
 * socket shut down, marked broken; kb_sshc_close frees it. */
void kb_sshc_drop(struct kb_sshc *c);
/* net.c: resolves and connects c->fd (non-blocking). */
int kb_sshc_tcp_connect(struct kb_sshc *c, int64_t deadline);
/* hostkey.c: the host key algorithm list for the KB_KH_TYPE_* bits known
 * for the host; a label like "ED25519 ECDSA"; the check of the server's
 * key against the known_hosts text kh (file_exists: for the message). */
void kb_sshc_hostkey_prefs(unsigned types, char *out, size_t n);
const char *kb_sshc_types_label(unsigned types, char *out, size_t n);
int kb_sshc_verify_hostkey(struct kb_sshc *c, const char *path, bool file_exists, const struct kb_buf *kh,
			   const char *lookup, struct kb_buf *cas);
/* ... it returns 0 with cas (reset first) non-empty when the key is not
 * in known_hosts but @cert-authority lines match: then, after
 * authentication and before anything else, hostcert.c must accept the
 * host's certificate: */
#define KB_SSHC_HOST_CERTS_DEFAULT "/etc/ssh/ssh_host_*_key-cert.pub"
#define KB_SSHC_HOST_CERTS_MAX (256u * 1024u)
#define KB_SSHC_CA_KEYS_MAX (1024u * 1024u)
int kb_sshc_verify_host_cert(struct kb_sshc *c, const char *path, const struct kb_buf *kh, const char *lookup,
			     const struct kb_buf *cas, const char *cert_paths);
/* The scan of the host's certificate lines ("<type> <base64> [comment]"),
 * exposed for the fuzz target: how far the best certificate got through
 * the checks (in this order), with details for the error message. */
enum kb_sshc_hc_stage {
	KB_SSHC_HC_NONE = 0,
	KB_SSHC_HC_NOT_HOST,   /* a user certificate */
	KB_SSHC_HC_OTHER_KEY,  /* certifies another key */
	KB_SSHC_HC_UNKNOWN_CA, /* signed by a CA not trusted for the host */
	KB_SSHC_HC_REVOKED_CA, /* the CA is @revoked */
	KB_SSHC_HC_PRINCIPAL,  /* the host name is not a principal */
	KB_SSHC_HC_TIME,       /* not valid now */
	KB_SSHC_HC_SIGNATURE,  /* bad signature, or SHA-1 RSA */
	KB_SSHC_HC_OK,
};
struct kb_sshc_cert_verdict {
	enum kb_sshc_hc_stage best;
	unsigned revoked_line;
	char ca_fp[64];
	char validity[64];
	char key_id[96];
};
/* Returns the number of parsable certificates seen (stops at the first
 * accepted one); text longer than KB_SSHC_HOST_CERTS_MAX is ignored. */
size_t kb_sshc_host_cert_scan(const char *text, size_t len, const uint8_t *hk, size_t hklen,
			      const struct kb_buf *kh, const char *lookup, const struct kb_buf *cas, const char *host,
			      struct kb_sshc_cert_verdict *v);
/* Checks a host_certs option: shell glob words (letters, digits, _ . / * ? + , : @ = -). */
bool kb_sshc_host_certs_valid(const char *paths);
/* auth.c */
int kb_sshc_auth_key(struct kb_sshc *c, const struct kb_key *key, int64_t deadline);
int kb_sshc_auth_agent(struct kb_sshc *c, const char *sock, const struct kb_key *pin, int64_t deadline);
/* authkeys.c: the sh script kb_sshc_authkeys_* run for op "add",
 * "remove" or "has" (exposed for tests that run it locally; only c's
 * user and authorized_keys path are used). */
int kb_sshc_authkeys_script(struct kb_sshc *c, const char *op, const struct kb_key *pub, const char *comment,
			    struct kb_buf *out);
/* Maps the session's last libssh2 error to a kb_err with a detail. */
int kb_sshc_lib_error(struct kb_sshc *c, int rc, const char *what);

#endif
