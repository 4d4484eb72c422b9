/* The issuing pipeline, as a library other commands reuse (broker issue,
 * broker serve, broker exec, rotation):
 *
 *   policy -> keygen -> sign -> store (pending) -> deliver -> audit -> promote
 *
 * The credential is stored as a pending version of keybroker/<role>/<id>
 * and made current only after its audit entry is on disk, so a request
 * whose audit line cannot be written changes nothing a reader sees; the
 * caller's deliver step (loading an agent) is undone in that case.  A
 * denied request is audited too and stores nothing. */
#ifndef KB_ISSUE_H
#define KB_ISSUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "policy.h"
#include "ssh/key.h"

struct kb_config;
struct kb_store;
struct kb_audit;

#define KB_CREDENTIAL_KIND "keybroker/ssh-credential/v1"
#define KB_ISSUE_IDENTITY_MAX 64
/* Certificates start this long before "now" to absorb clock skew. */
#define KB_ISSUE_BACKDATE 60

struct kb_issue_ctx {
	const struct kb_config *cfg;
	const char *policy_path;
	struct kb_audit *audit;    /* required: no audit, no credential */
	struct kb_store *store;    /* the configured backend, opened lazily */
	const char *via;           /* "cli", "daemon": recorded in the audit log */
};

/* Opens the audit log named by the config (audit.log, audit.key); the
 * store is opened on first use.  Release with kb_issue_ctx_done. */
int kb_issue_ctx_init(struct kb_issue_ctx *ic, const struct kb_config *cfg, const char *via);
void kb_issue_ctx_done(struct kb_issue_ctx *ic);

struct kb_issue_request {
	const char *user;              /* resolved by the caller, never claimed */
	uid_t uid;
	const char *const *groups;
	size_t ngroups;
	const char *role;
	const char *const *principals;
	size_t nprincipals;
	int64_t ttl;                   /* 0: the role's default */
	const char *key_type;          /* NULL: the role's first */
	const char *identity;          /* NULL: the user name */
	const char *host;              /* NULL: not host-specific */
};

struct kb_issue_result {
	struct kb_policy_decision decision;
	struct kb_key *key;            /* private key with the certificate attached */
	char *secret_name;             /* keybroker/<role>/<identity> */
	char *version;                 /* backend version id */
	const char *backend;           /* "local", "aws", "vault" */
	struct kb_buf credential;      /* the stored JSON (secure memory) */
	uint64_t serial;
	char key_id[160];
	char fingerprint[KB_KEY_FP_MAX];
	int64_t valid_after, valid_before;
	uint64_t audit_seq;
};
void kb_issue_result_done(struct kb_issue_result *res);

/* Called after the store step; an error aborts the request.  undo is
 * called when a later step (audit, promote) fails. */
struct kb_issue_deliver {
	int (*deliver)(void *arg, const struct kb_issue_result *res);
	void (*undo)(void *arg, const struct kb_issue_result *res);
	void *arg;
};

/* Runs the pipeline.  KB_OK: res holds the credential.  KB_ERR_DENIED:
 * res->decision.reason says why (and what to do).  Other errors: with
 * kb_err_detail().  res must be zeroed by the caller; free with
 * kb_issue_result_done either way. */
int kb_issue_run(struct kb_issue_ctx *ic, const struct kb_issue_request *req, const struct kb_issue_deliver *dl,
		 struct kb_issue_result *res);

/* The middle of the pipeline without policy, store or audit: generates
 * the key (res->decision.key_type), signs its certificate with ca under
 * res->decision and builds res->credential.  For benchmarks and callers
 * that have decided already (rotation). */
int kb_issue_mint(const struct kb_key *ca, const struct kb_issue_request *req, struct kb_issue_result *res);

/* Parses a stored credential (kind keybroker/ssh-credential/v1) into a
 * private key with its certificate attached. */
int kb_credential_parse(const char *json, size_t len, struct kb_key **ret_key);

/* Agent delivery: loads key (certificate attached) into the agent at
 * socket (NULL: SSH_AUTH_SOCK) with lifetime = valid_before - now, under
 * comment.  When the agent already holds an identity with that comment it
 * is swapped out: atomically with broker-agent's replace extension, else
 * by adding the new one before removing the old. */
struct kb_agent_load {
	char *socket;
	uint32_t lifetime;
	bool replaced;    /* an identity with the same comment was swapped */
	bool atomic;      /* ... with replace-identity@keybroker */
};
int kb_issue_agent_load(const char *socket, const struct kb_key *key, const char *comment, int64_t valid_before,
			struct kb_agent_load *ret);
int kb_issue_agent_unload(const char *socket, const struct kb_key *key);
void kb_agent_load_done(struct kb_agent_load *l);

/* Identity names: 1..64 of [A-Za-z0-9_.@-], not starting with . or -. */
bool kb_issue_identity_valid(const char *s);

#endif
