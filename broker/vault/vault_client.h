/* A Vault HTTP API client for the KV v2 backend: address, namespace, TLS
 * trust, token (VAULT_TOKEN, ~/.vault-token, or AppRole login with renewal
 * before expiry), retries of 429/503/5xx/connection errors with full-jitter
 * backoff inside a deadline, and one clear message per failure.
 *
 * Settings (config key, else environment; see broker(1)):
 *   vault.addr       VAULT_ADDR (required; https:// unless 127.0.0.1/localhost)
 *   vault.namespace  VAULT_NAMESPACE (sent as X-Vault-Namespace)
 *   vault.cacert     VAULT_CACERT (extra trust anchor; verification is always on)
 *   vault.mount      KV v2 mount, default "secret"
 *   VAULT_TOKEN, else AppRole (vault.role_id / VAULT_ROLE_ID with
 *   vault.secret_id_file / VAULT_SECRET_ID_FILE / VAULT_SECRET_ID, login at
 *   auth/<VAULT_APPROLE_MOUNT or "approle">/login), else ~/.vault-token.
 *   VAULT_MAX_RETRIES (retries per API call, default 6), VAULT_CLIENT_TIMEOUT
 *   (a duration bounding each API call including its retries, default 30s;
 *   a backend operation makes one to four calls).
 * A VAULT_TOKEN or ~/.vault-token token is looked up (lookup-self) once
 * the client has been in use for a minute, and renewed at two thirds of its
 * TTL when renewable; short-lived CLI runs never pay for the lookup.
 * Tokens live in guarded memory and are never logged. */
#ifndef KB_VAULT_CLIENT_H
#define KB_VAULT_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "net/http.h"

struct kb_config;

enum kb_vault_token_source {
	KB_VAULT_TOKEN_NONE,
	KB_VAULT_TOKEN_ENV,
	KB_VAULT_TOKEN_FILE,
	KB_VAULT_TOKEN_APPROLE,
};

struct kb_vault_client {
	char *addr;        /* no trailing '/' */
	char *mount;
	char *namespace_;  /* NULL when unset */
	char *cacert;
	char *approle_mount;
	char *token;       /* guarded memory */
	char *role_id;     /* guarded memory */
	char *secret_id;   /* guarded memory */
	enum kb_vault_token_source source;
	int64_t token_obtained_ms; /* monotonic */
	int64_t token_lease_s;     /* 0: unknown / no expiry */
	bool token_renewable;
	unsigned max_attempts;
	long deadline_ms;
	unsigned logins, renewals;  /* counters, for tests */
	/* VAULT_TOKEN / ~/.vault-token: a process still using the client this
	 * long after opening it (broker serve) looks the token up once and
	 * from then on renews it like an AppRole token. */
	int64_t opened_ms;
	int64_t lookup_after_ms;   /* default 60 s */
	bool looked_up;
};

int kb_vault_client_init(struct kb_vault_client *c, const struct kb_config *cfg);
void kb_vault_client_done(struct kb_vault_client *c);

/* "secret/<op>/<escaped name>" for messages and requests; free(). */
char *kb_vault_path(const struct kb_vault_client *c, const char *op, const char *name);

/* One API call (path below /v1/).  GET with list=true for listing.  Retries
 * 429, 503 and other 5xx and network errors inside the deadline; renews or
 * re-obtains an AppRole token as needed.  Returns KB_OK for 2xx (resp holds
 * the answer), else:
 *   KB_ERR_NOT_FOUND 404 (resp holds the body), KB_ERR_CONFLICT a cas
 *   mismatch, KB_ERR_AUTH 403 or no credentials, KB_ERR_THROTTLED 429 and
 *   KB_ERR_SEALED 503 after retries, KB_ERR_BACKEND any other answer,
 *   KB_ERR_NETWORK /
 *   KB_ERR_TIMEOUT no answer; each with a one-line detail. */
int kb_vault_call(struct kb_vault_client *c, const char *method, const char *path, const char *query,
		  const struct kb_buf *body, bool secret_answer, struct kb_http_response *resp);

/* Renews (or re-obtains) the token now if it is due; exposed for tests. */
int kb_vault_client_ensure_token(struct kb_vault_client *c);

#endif
