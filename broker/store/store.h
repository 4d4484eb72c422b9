/* The secret backend interface: one API, three backends (local encrypted
 * store, AWS Secrets Manager, Vault KV v2) with the same semantics.
 *
 * A secret has a name (e.g. "keybroker/deploy/alice") and versions.  Each
 * version has an opaque id (a UUID on AWS, a number on Vault and local) and
 * any of three stages: current, pending, previous.  A stage is on at most
 * one version at a time.
 *
 *  put      adds a version.  With stage CURRENT (default) it becomes current
 *           and the old current becomes previous.  With stage PENDING it
 *           only takes the pending label.  With an idempotency token, a
 *           retry of the same put (same token, same value) returns the
 *           version already made; same token with another value is
 *           KB_ERR_CONFLICT.  Creates the secret when it does not exist.
 *  get      by stage (default current) or by version id.
 *  promote  makes version current; the old current becomes previous; the
 *           pending label is removed if it was on that version.  Promoting
 *           the version that is already current (and not pending) is a no-op.
 *  list     names with a prefix, sorted.
 *  describe versions with their stages and creation times.
 *  delete   removes the secret and all versions.
 *
 * Values are at most KB_STORE_VALUE_MAX bytes; they are read into secure
 * buffers.  Every failure leaves the stored state as it was (no stage moved,
 * no version lost). */
#ifndef KB_STORE_H
#define KB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define KB_STORE_VALUE_MAX (64u * 1024u)
#define KB_STORE_NAME_MAX 512
#define KB_STORE_VERSION_MAX 64

struct kb_config;

enum kb_stage {
	KB_STAGE_NONE = 0,
	KB_STAGE_CURRENT = 1,
	KB_STAGE_PENDING = 2,
	KB_STAGE_PREVIOUS = 4,
};

/* "current", "pending", "previous" (also accepts AWSCURRENT etc.). */
const char *kb_stage_name(enum kb_stage s);
int kb_stage_parse(const char *s, enum kb_stage *ret);
/* Secret names: 1..KB_STORE_NAME_MAX of [A-Za-z0-9/_+=.@-], no leading
 * or trailing '/', no "//", no "." or ".." component. */
bool kb_store_name_valid(const char *name);

struct kb_store_put_opts {
	enum kb_stage stage;   /* KB_STAGE_CURRENT (0 means current) or PENDING */
	const char *token;     /* idempotency token or NULL (max 64 chars) */
	const char *description; /* optional, for new secrets */
};

struct kb_store_sel {
	enum kb_stage stage;   /* used when version is NULL; 0 means current */
	const char *version;
};

struct kb_version_info {
	char id[KB_STORE_VERSION_MAX + 1];
	unsigned stages;       /* bitmask of enum kb_stage */
	int64_t created;       /* unix time, 0 if unknown */
};

struct kb_secret_info {
	char *name;
	int64_t created;
	int64_t updated;
	struct kb_version_info *versions;
	size_t nversions;
};
void kb_secret_info_free(struct kb_secret_info *info);

struct kb_store;

struct kb_store_ops {
	const char *name; /* "local", "aws", "vault" */
	/* ret_version is never NULL here (kb_store_put passes a slot). */
	int (*put)(struct kb_store *s, const char *name, const uint8_t *value, size_t len,
		   const struct kb_store_put_opts *opts, char **ret_version);
	int (*get)(struct kb_store *s, const char *name, const struct kb_store_sel *sel,
		   struct kb_buf *out, char **ret_version);
	int (*promote)(struct kb_store *s, const char *name, const char *version);
	int (*list)(struct kb_store *s, const char *prefix, char ***ret_names, size_t *ret_n);
	int (*describe)(struct kb_store *s, const char *name, struct kb_secret_info **ret);
	int (*remove)(struct kb_store *s, const char *name);
	void (*close)(struct kb_store *s);
};

struct kb_store {
	const struct kb_store_ops *ops;
	void *impl;
};

/* Opens the backend named by the config key "backend" ("local" default).
 * Backend settings come from the config and the usual environment
 * variables (AWS_*, VAULT_*). */
int kb_store_open(const struct kb_config *cfg, struct kb_store **ret);
/* Calls ops->close, which frees the backend state and s itself; accepts NULL. */
void kb_store_close(struct kb_store *s);

/* Thin wrappers that validate arguments (name, size limits) and then call
 * the backend, so backends may rely on: a valid name; len <= the limit;
 * opts never NULL, opts->stage CURRENT or PENDING, token NULL or 1-64
 * printable non-space characters; sel never NULL, either a version (1-64
 * printable characters) or exactly one stage; prefix NULL or non-empty.
 * Invalid arguments give KB_ERR_ARGS (exit 2), oversize values
 * KB_ERR_TOO_LARGE.  ret_version, when given, is set to NULL on error. */
int kb_store_put(struct kb_store *s, const char *name, const uint8_t *value, size_t len,
		 const struct kb_store_put_opts *opts, char **ret_version);
int kb_store_get(struct kb_store *s, const char *name, const struct kb_store_sel *sel,
		 struct kb_buf *out, char **ret_version);
int kb_store_promote(struct kb_store *s, const char *name, const char *version);
int kb_store_list(struct kb_store *s, const char *prefix, char ***ret_names, size_t *ret_n);
int kb_store_describe(struct kb_store *s, const char *name, struct kb_secret_info **ret);
int kb_store_remove(struct kb_store *s, const char *name);
void kb_store_names_free(char **names, size_t n);

/* Backend constructors (each in its own file). */
int kb_store_local_open(const struct kb_config *cfg, struct kb_store **ret);
int kb_store_aws_open(const struct kb_config *cfg, struct kb_store **ret);
int kb_store_vault_open(const struct kb_config *cfg, struct kb_store **ret);

#endif
