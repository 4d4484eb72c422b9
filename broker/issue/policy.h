/* The policy engine: JSON policy files (broker-policy(5)), lint with line
 * and column, and the decision function.
 *
 * A policy has roles (selected by name in a request) and a deny list.
 * Default deny: a request is allowed only by a role whose requesters
 * include the user (or one of its groups) and whose limits the request
 * fits.  An explicit deny rule that matches wins over any role.
 *
 * Conventions: KB_OK or a negative enum kb_err; ret_* set on success only;
 * every _free accepts NULL. */
#ifndef KB_POLICY_H
#define KB_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Caps applied before and while parsing. */
#define KB_POLICY_FILE_MAX (1024u * 1024u)
#define KB_POLICY_MAX_ROLES 1024
#define KB_POLICY_MAX_DENY 1024
#define KB_POLICY_MAX_LIST 256      /* entries in any list */
#define KB_POLICY_MAX_STRING 256    /* bytes in any name, pattern, principal */
#define KB_POLICY_MAX_TTL_SECS (366 * 86400) /* a year: anything longer is a typo */

struct kb_policy_strv {
	char **v;
	size_t n;
};

struct kb_policy_option {
	char *name;
	char *value; /* "" for flag options */
};

struct kb_policy_role {
	char *name;
	char *description;
	struct kb_policy_strv users, groups;  /* requesters (fnmatch patterns) */
	struct kb_policy_strv principals;     /* may contain {{requester}} */
	struct kb_policy_strv hosts;          /* fnmatch patterns; empty = any */
	int64_t default_ttl, max_ttl;         /* seconds */
	struct kb_policy_strv key_types;      /* "ed25519", "ecdsa-p256", ... */
	struct kb_policy_strv extensions;
	struct kb_policy_option *critical;
	size_t ncritical;
	char *backend;                        /* NULL: the configured one */
	bool ec2_instance_connect;
	unsigned line, col;
};

struct kb_policy_deny {
	char *description;
	/* Each selector is absent (n == 0: matches anything) or a list of
	 * fnmatch patterns.  users/groups together select the requester: it
	 * matches when either list matches (or both are absent). */
	struct kb_policy_strv users, groups, roles, principals, hosts;
	unsigned line, col;
};

struct kb_policy {
	char *origin; /* file name for messages */
	struct kb_policy_role *roles;
	size_t nroles;
	struct kb_policy_deny *deny;
	size_t ndeny;
};

/* One problem found by the parser or the linter. */
enum kb_policy_severity { KB_POLICY_ERROR = 0, KB_POLICY_WARNING = 1 };
struct kb_policy_diag {
	enum kb_policy_severity severity;
	unsigned line, col;
	char *msg;
};
struct kb_policy_diags {
	struct kb_policy_diag *v;
	size_t n;
	size_t nerrors;
};
void kb_policy_diags_free(struct kb_policy_diags *d);

/* Parses policy text.  Every problem goes into diags (may be NULL) with
 * its line and column; the policy is returned only when there is no
 * error (warnings allowed).  On error the return is KB_ERR_INVALID and
 * kb_err_detail() holds "origin:line:col: message" of the first error. */
int kb_policy_parse(const char *text, size_t len, const char *origin, struct kb_policy **ret,
		    struct kb_policy_diags *diags);
/* Reads the file (size capped before reading) and parses it. */
int kb_policy_load(const char *path, struct kb_policy **ret, struct kb_policy_diags *diags);
void kb_policy_free(struct kb_policy *p);
const struct kb_policy_role *kb_policy_find_role(const struct kb_policy *p, const char *name);

/* A request to decide.  Strings are borrowed. */
struct kb_policy_request {
	const char *user;
	const char *const *groups;
	size_t ngroups;
	const char *role;
	const char *const *principals; /* none: all the role allows */
	size_t nprincipals;
	int64_t ttl;                   /* 0: the role's default */
	const char *host;              /* NULL: not host-specific */
	const char *key_type;          /* NULL: the role's first key type */
};

struct kb_policy_decision {
	bool allow;
	char rule[160];   /* "roles.deploy", "deny[0]", "default deny" */
	unsigned line, col; /* of the deciding rule, 0 when none */
	char reason[768]; /* what went wrong and what to do, for a deny */
	/* Effective values (filled on allow; principals also on some denies). */
	struct kb_policy_strv principals;
	int64_t ttl;
	char *key_type;
	struct kb_policy_strv extensions;
	struct kb_policy_option *critical;
	size_t ncritical;
	const char *backend;   /* borrowed from the policy; NULL = configured */
	bool ec2_instance_connect;
};

/* Decides the request.  Returns KB_OK with d->allow set either way, or an
 * error for an internal failure (no memory).  d is overwritten; release
 * it with kb_policy_decision_done(). */
int kb_policy_decide(const struct kb_policy *p, const struct kb_policy_request *req,
		     struct kb_policy_decision *d);
void kb_policy_decision_done(struct kb_policy_decision *d);

/* The policy file path from the configuration key "policy" (which already
 * follows --policy > BROKER_POLICY > config file > default). */
struct kb_config;
const char *kb_policy_path(const struct kb_config *cfg);

/* "1h30m" style (parseable again by kb_parse_duration). */
void kb_policy_format_ttl(int64_t secs, char *out, size_t n);

/* Expands "{{requester}}" in a principal template; NULL for a bad
 * template or a result that is not a valid principal. */
char *kb_policy_expand(const char *tmpl, const char *requester);

#endif
