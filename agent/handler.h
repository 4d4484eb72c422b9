/* The agent's message handler: a pure function from one request message
 * (without its length prefix) to one reply message body, given an explicit
 * context (keystore, clocks, confirmation and delay hooks, lock state) and
 * the per-connection state (session bindings).  No sockets, no globals:
 * unit tests and the fuzz target call it directly. */
#ifndef KB_AGENT_HANDLER_H
#define KB_AGENT_HANDLER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/proto.h"
#include "core/buf.h"
#include "keystore.h"

struct kb_key;

struct kb_agent_binding {
	struct kb_key *hostkey;
	uint8_t *sid;
	size_t sid_len;
	bool forwarded;
};

struct kb_agent_conn {
	struct kb_agent_binding bind[KB_AGENT_MAX_SESSION_IDS];
	size_t nbind;
	unsigned long id; /* for log messages */
};

#define KB_AGENT_FP_SHA256 0
#define KB_AGENT_FP_MD5 1
#define KB_AGENT_FP_SHA1 2

struct kb_agent_ctx {
	struct kb_agent_keystore *ks;
	/* Clocks: monotonic milliseconds and wall-clock seconds. */
	int64_t (*now_mono_ms)(void);
	int64_t (*now_real)(void);
	/* Asks the user; returns true when use of the key is allowed.  NULL
	 * means refuse every confirm-constrained key. */
	bool (*confirm)(void *arg, const char *prompt);
	void *confirm_arg;
	/* Sleeps after a wrong unlock passphrase (NULL: no delay). */
	void (*delay_ms)(unsigned ms);
	uint32_t default_lifetime; /* -t, seconds; 0 = none */
	int fp_hash;               /* -E: KB_AGENT_FP_SHA256, _MD5 or _SHA1 */
	/* How long an identity replaced by replace-identity@keybroker still
	 * signs for its exact blob (KB_AGENT_REPLACE_GRACE_MS; 0 = none). */
	int64_t replace_grace_ms;
	/* Lock state (PROTOCOL.agent LOCK/UNLOCK). */
	pthread_mutex_t lock_mu;
	bool locked;
	uint8_t lock_salt[16];
	uint8_t lock_hash[32];
	unsigned lock_failures;
};

void kb_agent_ctx_init(struct kb_agent_ctx *ctx, struct kb_agent_keystore *ks);
void kb_agent_ctx_done(struct kb_agent_ctx *ctx);
void kb_agent_conn_init(struct kb_agent_conn *c, unsigned long id);
void kb_agent_conn_done(struct kb_agent_conn *c);

/* Handles one message.  Appends the reply body to `reply`.  Returns 0, or a
 * negative kb_err when the connection should be closed without a reply. */
int kb_agent_handle(struct kb_agent_ctx *ctx, struct kb_agent_conn *conn, const uint8_t *msg,
		    size_t len, struct kb_buf *reply);

/* Monotonic death time for an identity added now (lifetime in seconds, 0 =
 * none) holding a certificate valid until valid_before (0 = no cert).
 * Returns -1 when the certificate has already expired. */
/* A key's fingerprint for messages and prompts, in the -E hash. */
void kb_agent_fingerprint(const struct kb_agent_ctx *ctx, const struct kb_key *k, char *out, size_t n);

int64_t kb_agent_death(const struct kb_agent_ctx *ctx, uint32_t lifetime, uint64_t valid_before);

#endif
