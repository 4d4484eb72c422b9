/* A small SSH agent client (for broker, tests and benchmarks).
 *
 * Speaks to any agent (ssh-agent or broker-agent) over a Unix socket.  The
 * keybroker extensions (kb_agent_list_info, kb_agent_replace) need
 * broker-agent; against another agent they fail with KB_ERR_UNSUPPORTED.
 * All functions return KB_OK or a negative kb_err: KB_ERR_DENIED when the
 * agent answered FAILURE, KB_ERR_NETWORK/KB_ERR_IO for socket trouble,
 * KB_ERR_INVALID for a malformed reply. */
#ifndef KB_AGENT_CLIENT_H
#define KB_AGENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct kb_key;
struct kb_agent_client;

/* path NULL means $SSH_AUTH_SOCK (KB_ERR_NOT_FOUND when unset). */
int kb_agent_connect(const char *path, struct kb_agent_client **ret);
void kb_agent_close(struct kb_agent_client *c);

/* One raw exchange: sends `req` (a message body, without length) and puts
 * the reply body in `reply` (appending). */
int kb_agent_call(struct kb_agent_client *c, const uint8_t *req, size_t len, struct kb_buf *reply);

struct kb_agent_identity_info {
	uint8_t *blob;         /* public key or certificate blob */
	size_t blob_len;
	struct kb_key *key;    /* parsed blob, NULL for key types lib/ssh does not know */
	char *comment;
	/* Filled by kb_agent_list_info only: */
	uint32_t flags;        /* KB_AGENT_INFO_* (agent/proto.h) */
	uint64_t seconds_left; /* remaining lifetime, when flags has LIFETIME */
	uint64_t valid_after;  /* certificate window, when flags has CERT */
	uint64_t valid_before;
};

struct kb_agent_identities {
	struct kb_agent_identity_info *v;
	size_t n;
};

void kb_agent_identities_done(struct kb_agent_identities *l);

int kb_agent_list(struct kb_agent_client *c, struct kb_agent_identities *ret);
/* broker-agent's list-identities@keybroker extension. */
int kb_agent_list_info(struct kb_agent_client *c, struct kb_agent_identities *ret);

struct kb_agent_constraints {
	uint32_t lifetime; /* seconds, 0 = none */
	bool confirm;
};

/* Adds a private key (with its certificate, if attached).  cons may be
 * NULL. */
int kb_agent_add(struct kb_agent_client *c, const struct kb_key *k, const char *comment,
		 const struct kb_agent_constraints *cons);
/* Removes the identity with k's public blob (certificate blob if k has a
 * certificate); KB_ERR_DENIED when the agent does not hold it. */
int kb_agent_remove(struct kb_agent_client *c, const struct kb_key *k);
int kb_agent_remove_all(struct kb_agent_client *c);
/* broker-agent's replace-identity@keybroker: atomically swaps the identity
 * `old` for `new_key`. */
int kb_agent_replace(struct kb_agent_client *c, const struct kb_key *old, const struct kb_key *new_key,
		     const char *comment, const struct kb_agent_constraints *cons);
/* Signs data; sig_out receives the SSH wire signature.  flags:
 * KB_AGENT_RSA_SHA2_256/512 for RSA keys. */
int kb_agent_sign(struct kb_agent_client *c, const struct kb_key *k, const uint8_t *data, size_t len,
		  uint32_t flags, struct kb_buf *sig_out);

#endif
