/* EC2 Instance Connect for issued credentials, shared by
 * `broker issue --push-ec2` and `broker ec2 push --role R` (without --key):
 *
 *   select instances -> policy gate -> issue (kb_issue_run) -> agent
 *   (certificate and plain key) -> push the plain public key -> audit
 *
 * The gate runs before anything is issued: the role must allow the caller,
 * the OS user as a principal on every selected host, and set
 * "ec2_instance_connect".  A denial is written to the audit log and
 * nothing is stored.
 *
 * Instance Connect takes a plain public key, and sshd compares a presented
 * certificate only with cert-authority lines, never with the plain key the
 * host's AuthorizedKeysCommand prints.  So the agent gets the key twice:
 * with its certificate (for hosts that trust the broker CA) and plain (for
 * Instance Connect hosts), both with the certificate's lifetime.
 *
 * When some pushes fail the credential stays issued (it is valid for
 * certificate logins); the caller reports the failed hosts and how to
 * retry them.
 *
 * Functions return KB_OK or a negative enum kb_err (detail via
 * kb_err_detail()). */
#ifndef KB_FLEET_EC2_ISSUE_H
#define KB_FLEET_EC2_ISSUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctx.h"
#include "fleet/ec2_push.h"
#include "issue/issue.h"

struct kb_inventory;
struct kb_audit;
struct kb_policy;
struct kb_requester;

/* The instances to push to: from a Terraform state (optionally one
 * inventory group) and/or instance ids given directly. */
struct kb_ec2_select_opts {
	const char *state;             /* Terraform state file, or NULL */
	const char *group;             /* inventory group (needs state), or NULL */
	const char *const *ids;        /* instance ids given directly */
	size_t nids;
	const char *az;                /* forced zone, or NULL (state: the instance's) */
};

struct kb_ec2_selection {
	struct kb_ec2_target *t;       /* n targets, results filled by the push */
	const char **names;            /* inventory host name, or the instance id */
	size_t n;
	struct kb_inventory *inv;      /* owns the names and ids from a state */
};

/* Validates every instance id (KB_ERR_ARGS for a bad one, naming it) and
 * zone, reads the state; KB_ERR_NOT_FOUND when nothing is selected.  An
 * instance in both the state and the ids is pushed once. */
int kb_ec2_select(const struct kb_ec2_select_opts *o, struct kb_ec2_selection *ret);
void kb_ec2_selection_done(struct kb_ec2_selection *s);

/* The gate: ROLE must allow WHO with principal os_user on every selected
 * host and enable EC2 Instance Connect.  KB_OK, or KB_ERR_DENIED with the
 * rule and reason (what to do) written to rule/reason and the host to
 * *ret_host (a selection name).  Pure: no I/O. */
int kb_ec2_gate(const struct kb_policy *pol, const struct kb_requester *who, const char *role, const char *os_user,
		const struct kb_ec2_selection *sel, char *rule, size_t rulelen, char *reason, size_t reasonlen,
		const char **ret_host);

/* One issue-and-push run. */
struct kb_ec2_issue_push {
	/* In: the issue request. */
	const char *role;
	const char *const *principals;
	size_t nprincipals;
	int64_t ttl;
	const char *key_type;
	const char *identity;
	const char *agent;             /* socket; NULL: no agent delivery */
	const char *via;               /* "cli" */
	/* In: where and how to push; push.os_user NULL means the first
	 * principal given, else the role's first principal. */
	struct kb_ec2_push_opts push;
	struct kb_ec2_selection *sel;
	/* Out. */
	char os_user[64];
	bool issued;                   /* a credential exists (res is valid) */
	struct kb_issue_result res;
	char *pubkey;                  /* the pushed authorized_keys line */
	char fingerprint[96];
	struct kb_agent_load load;     /* the certificate in the agent */
	bool loaded, plain_loaded;
	int push_err;                  /* KB_OK when every host was pushed */
	size_t failed;                 /* hosts whose push failed */
};

/* Runs the whole sequence; prints errors for the steps before the push
 * (policy, issuing) itself.  Returns:
 *   KB_OK            issued, every host pushed (or fresh in the cache);
 *   KB_ERR_DENIED    the gate or the issuing policy refused; audited;
 *   other, !issued   nothing was issued;
 *   other, issued    issued, but ip->failed hosts were not pushed (each
 *                    target has its err and detail).
 * Release with kb_ec2_issue_push_done. */
int kb_ec2_issue_and_push(struct kb_ctx *ctx, struct kb_ec2_issue_push *ip);
void kb_ec2_issue_push_done(struct kb_ec2_issue_push *ip);

/* Per-host results as a JSON array (entries: instance_id, host, os_user,
 * status "pushed"/"cached"/"failed", attempts, fingerprint, request_id,
 * valid_for_s or error).  NULL on allocation failure. */
json_t *kb_ec2_results_json(const struct kb_ec2_selection *sel, const char *os_user, const char *fp);
/* The same as text: results on stdout, failures on stderr. */
void kb_ec2_results_print(const struct kb_ec2_selection *sel, const char *os_user, const char *fp);
/* After a partial failure: which hosts failed and the command that
 * retries exactly those (on stderr).  keyfile: a .pub file holding the
 * pushed key, or NULL (then the retry issues a new credential with role). */
void kb_ec2_print_retry(const struct kb_ec2_selection *sel, const char *role, const char *os_user,
			const char *keyfile);

#endif
