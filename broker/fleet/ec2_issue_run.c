/* EC2 Instance Connect for issued credentials: the run (gate, issue,
 * agent, push, audit).  Needs the CLI context (kept apart from
 * ec2_issue.c, which unit tests link).  See ec2_issue.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/client.h"
#include "config.h"
#include "core/err.h"
#include "core/util.h"
#include "fleet/ec2_issue.h"
#include "fleet/eic.h"
#include "fleet/fleet.h"
#include "issue/audit.h"
#include "issue/policy.h"
#include "issue/requester.h"

/* Instance ids listed in one audit line; the rest are counted only, so a
 * push to thousands of hosts still fits KB_AUDIT_LINE_MAX. */
#define AUDIT_MAX_IDS 200

/* ---- the agent: the certificate and the plain key ---- */

static int add_plain(const char *socket, const struct kb_key *key, const char *comment, uint32_t lifetime)
{
	struct kb_agent_client *c = NULL;
	struct kb_agent_identities ids = { 0 };
	struct kb_key *plain = NULL;
	struct kb_agent_constraints cons = { .lifetime = lifetime };
	int r;

	if ((r = kb_key_dup(key, &plain)) != KB_OK)
		return r;
	kb_key_drop_cert(plain);
	if ((r = kb_agent_connect(socket, &c)) != KB_OK) {
		r = kb_err_set(r, "cannot reach the agent at %s", socket);
		goto out;
	}
	/* An earlier plain key under the same name is dropped once the new one
	 * is in, as the certificate is replaced. */
	if (kb_agent_list(c, &ids) != KB_OK)
		ids.n = 0;
	if ((r = kb_agent_add(c, plain, comment, &cons)) != KB_OK) {
		r = kb_err_set(r, "the agent at %s refused the plain key", socket);
		goto out;
	}
	for (size_t i = 0; i < ids.n; i++)
		if (ids.v[i].key != NULL && !kb_key_is_cert(ids.v[i].key) && ids.v[i].comment != NULL &&
		    strcmp(ids.v[i].comment, comment) == 0 && !kb_key_equal_public(ids.v[i].key, plain))
			kb_agent_remove(c, ids.v[i].key);
out:
	kb_agent_identities_done(&ids);
	kb_agent_close(c);
	kb_key_free(plain);
	return r;
}

static void remove_plain(const char *socket, const struct kb_key *key)
{
	struct kb_key *plain = NULL;

	if (kb_key_dup(key, &plain) != KB_OK)
		return;
	kb_key_drop_cert(plain);
	kb_issue_agent_unload(socket, plain);
	kb_key_free(plain);
}

static char *plain_comment(const struct kb_issue_result *res)
{
	return kb_asprintf("%s (EC2 Instance Connect)", res->secret_name);
}

static int deliver(void *arg, const struct kb_issue_result *res)
{
	struct kb_ec2_issue_push *ip = arg;
	char *comment;
	int r;

	if (ip->agent == NULL)
		return KB_OK;
	if ((r = kb_issue_agent_load(ip->agent, res->key, res->secret_name, res->valid_before, &ip->load)) != KB_OK)
		return r;
	ip->loaded = true;
	if ((comment = plain_comment(res)) == NULL)
		r = KB_ERR_NOMEM;
	else
		r = add_plain(ip->load.socket, res->key, comment, ip->load.lifetime);
	free(comment);
	if (r != KB_OK) {
		/* kb_issue_run only undoes a delivery that succeeded. */
		kb_issue_agent_unload(ip->load.socket, res->key);
		ip->loaded = false;
		return r;
	}
	ip->plain_loaded = true;
	return KB_OK;
}

static void undo(void *arg, const struct kb_issue_result *res)
{
	struct kb_ec2_issue_push *ip = arg;

	if (ip->plain_loaded)
		remove_plain(ip->load.socket, res->key);
	if (ip->loaded)
		kb_issue_agent_unload(ip->load.socket, res->key);
	ip->loaded = ip->plain_loaded = false;
}

/* ---- audit ---- */

static json_t *ids_json(const struct kb_ec2_selection *sel, int which /* 0 all, 1 ok, -1 failed */, size_t *count)
{
	json_t *a = json_array();

	*count = 0;
	for (size_t i = 0; a != NULL && i < sel->n; i++) {
		if ((which > 0 && sel->t[i].err != 0) || (which < 0 && sel->t[i].err == 0))
			continue;
		if (*count < AUDIT_MAX_IDS)
			json_array_append_new(a, json_string(sel->t[i].instance_id));
		(*count)++;
	}
	return a;
}

static json_t *audit_base(const struct kb_ec2_issue_push *ip, const struct kb_requester *who, const char *event)
{
	json_t *e = json_object();

	if (e == NULL)
		return NULL;
	json_object_set_new(e, "event", json_string(event));
	json_object_set_new(e, "via", json_string(ip->via ? ip->via : "cli"));
	json_object_set_new(e, "requester", json_string(who->user));
	json_object_set_new(e, "uid", json_integer((json_int_t)who->uid));
	json_object_set_new(e, "role", json_string(ip->role));
	json_object_set_new(e, "os_user", json_string(ip->os_user));
	return e;
}

static int audit_deny(struct kb_audit *audit, const struct kb_ec2_issue_push *ip, const struct kb_requester *who,
		      const char *rule, const char *reason, const char *host)
{
	json_t *e = audit_base(ip, who, "issue");
	size_t n;
	int r;

	if (e == NULL)
		return KB_ERR_NOMEM;
	json_object_set_new(e, "decision", json_string("deny"));
	json_object_set_new(e, "rule", json_string(rule));
	json_object_set_new(e, "outcome", json_string("denied"));
	json_object_set_new(e, "reason", json_string(reason));
	if (host != NULL)
		json_object_set_new(e, "host", json_string(host));
	json_object_set_new(e, "push_ec2", json_true());
	json_object_set_new(e, "instances", ids_json(ip->sel, 0, &n));
	json_object_set_new(e, "instance_count", json_integer((json_int_t)n));
	r = kb_audit_append(audit, e, NULL);
	json_decref(e);
	return r;
}

static int audit_push(struct kb_audit *audit, const struct kb_ec2_issue_push *ip, const struct kb_requester *who)
{
	json_t *e = audit_base(ip, who, "ec2-push");
	char serial[32];
	size_t nok, nfail;
	int r;

	if (e == NULL)
		return KB_ERR_NOMEM;
	snprintf(serial, sizeof(serial), "%llu", (unsigned long long)ip->res.serial);
	json_object_set_new(e, "key_id", json_string(ip->res.key_id));
	json_object_set_new(e, "serial", json_string(serial));
	json_object_set_new(e, "fingerprint", json_string(ip->fingerprint));
	json_object_set_new(e, "pushed", ids_json(ip->sel, 1, &nok));
	json_object_set_new(e, "failed", ids_json(ip->sel, -1, &nfail));
	json_object_set_new(e, "pushed_count", json_integer((json_int_t)nok));
	json_object_set_new(e, "failed_count", json_integer((json_int_t)nfail));
	json_object_set_new(e, "outcome", json_string(nfail ? "partial" : "pushed"));
	r = kb_audit_append(audit, e, NULL);
	json_decref(e);
	return r;
}

/* ---- the run ---- */

/* --os-user, else the first --principal, else the role's first principal
 * ({{requester}} expanded).  A role that does not exist leaves the caller's
 * name: the gate then refuses with the policy's own reason. */
static int pick_os_user(struct kb_ec2_issue_push *ip, const struct kb_policy *pol, const struct kb_requester *who)
{
	const struct kb_policy_role *pr = kb_policy_find_role(pol, ip->role);
	const char *u = ip->push.os_user;
	char *expanded = NULL;

	if (u == NULL && ip->nprincipals > 0)
		u = ip->principals[0];
	if (u == NULL && pr != NULL && pr->principals.n > 0) {
		if ((expanded = kb_policy_expand(pr->principals.v[0], who->user)) == NULL)
			return kb_err_set(KB_ERR_ARGS, "role %s: principal '%s' does not expand to a user name; give --os-user",
					  ip->role, pr->principals.v[0]);
		u = expanded;
	}
	if (u == NULL)
		u = who->user;
	if (!kb_fleet_valid_os_user(u) || strlen(u) >= sizeof(ip->os_user)) {
		int r = kb_err_set(KB_ERR_ARGS, "'%s' is not a valid OS user name for EC2 Instance Connect (1-32 "
						"characters: letters, digits, '.', '_', '-', '@'); give --os-user", u);
		free(expanded);
		return r;
	}
	kb_strlcpy(ip->os_user, u, sizeof(ip->os_user));
	free(expanded);
	return KB_OK;
}

static int public_line(struct kb_ec2_issue_push *ip)
{
	struct kb_key *plain = NULL;
	int r;

	if ((r = kb_key_dup(ip->res.key, &plain)) != KB_OK)
		return r;
	kb_key_drop_cert(plain);
	if ((r = kb_key_format_public_line(plain, ip->res.key_id, &ip->pubkey)) == KB_OK)
		r = kb_eic_fingerprint(ip->pubkey, ip->fingerprint, sizeof(ip->fingerprint));
	kb_key_free(plain);
	return r;
}

int kb_ec2_issue_and_push(struct kb_ctx *ctx, struct kb_ec2_issue_push *ip)
{
	struct kb_config *cfg = kb_ctx_config(ctx);
	struct kb_requester who = { 0 };
	struct kb_issue_ctx ic = { 0 };
	struct kb_policy *pol = NULL;
	struct kb_issue_deliver dl = { deliver, undo, ip };
	char rule[160] = "", reason[768] = "";
	const char *path, *host = NULL;
	bool ic_open = false;
	int r;

	ip->issued = false;
	ip->failed = 0;
	if (cfg == NULL)
		return KB_ERR_INVALID;
	if ((r = kb_requester_from_uid(getuid(), &who)) != KB_OK) {
		kb_fail(ctx, r, "cannot tell who you are");
		goto out;
	}
	if ((path = kb_policy_path(cfg)) == NULL) {
		r = KB_ERR_NOT_FOUND;
		fprintf(stderr, "broker: no policy configured: use --policy FILE or set BROKER_POLICY\n");
		goto out;
	}
	if ((r = kb_policy_load(path, &pol, NULL)) != KB_OK) {
		kb_fail(ctx, r, "cannot load policy %s", path);
		goto out;
	}
	if ((r = pick_os_user(ip, pol, &who)) != KB_OK) {
		fprintf(stderr, "broker: %s\n", kb_err_detail());
		goto out;
	}
	if ((r = kb_issue_ctx_init(&ic, cfg, ip->via ? ip->via : "cli")) != KB_OK) {
		kb_fail(ctx, r, "cannot open the audit log %s (a credential is only issued when it is audited)",
			kb_config_get(cfg, "audit.log") ? kb_config_get(cfg, "audit.log") : "(none)");
		goto out;
	}
	ic_open = true;

	/* The gate, before anything is issued. */
	r = kb_ec2_gate(pol, &who, ip->role, ip->os_user, ip->sel, rule, sizeof(rule), reason, sizeof(reason), &host);
	if (r == KB_ERR_DENIED) {
		int ar = audit_deny(ic.audit, ip, &who, rule, reason, host);
		fprintf(stderr, "broker: denied: %s as %s on %s (%s): %s\n", who.user, ip->os_user, host ? host : "?",
			rule, reason);
		if (ar != KB_OK)
			kb_fail(ctx, ar, "cannot write the denial to the audit log");
		goto out;
	}
	if (r != KB_OK) {
		kb_fail(ctx, r, "policy decision");
		goto out;
	}

	struct kb_issue_request req = {
		.user = who.user, .uid = who.uid, .groups = (const char *const *)who.groups, .ngroups = who.ngroups,
		.role = ip->role, .principals = ip->principals, .nprincipals = ip->nprincipals, .ttl = ip->ttl,
		.key_type = ip->key_type, .identity = ip->identity,
	};
	r = kb_issue_run(&ic, &req, &dl, &ip->res);
	if (r == KB_ERR_DENIED) {
		fprintf(stderr, "broker: denied: %s\n", ip->res.decision.reason);
		goto out;
	}
	if (r != KB_OK) {
		kb_fail(ctx, r, "cannot issue a credential for role %s", ip->role);
		goto out;
	}
	ip->issued = true;
	if ((r = public_line(ip)) != KB_OK) {
		for (size_t i = 0; i < ip->sel->n; i++) {
			ip->sel->t[i].err = r;
			kb_strlcpy(ip->sel->t[i].detail, "cannot format the public key", sizeof(ip->sel->t[i].detail));
		}
		ip->failed = ip->sel->n;
		ip->push_err = r;
		goto out;
	}

	struct kb_ec2_push_opts po = ip->push;
	po.os_user = ip->os_user;
	po.pubkey = ip->pubkey;
	po.fingerprint = ip->fingerprint;
	ip->push_err = r = kb_ec2_push_many(&po, ip->sel->t, ip->sel->n);
	for (size_t i = 0; i < ip->sel->n; i++)
		if (ip->sel->t[i].err != 0)
			ip->failed++;
	int ar = audit_push(ic.audit, ip, &who);
	if (ar != KB_OK)
		fprintf(stderr, "broker: warning: the push is not in the audit log %s: %s\n", kb_audit_path(ic.audit),
			kb_err_detail());
out:
	if (ic_open)
		kb_issue_ctx_done(&ic);
	kb_policy_free(pol);
	kb_requester_done(&who);
	return r;
}

void kb_ec2_issue_push_done(struct kb_ec2_issue_push *ip)
{
	if (ip == NULL)
		return;
	kb_issue_result_done(&ip->res);
	kb_agent_load_done(&ip->load);
	free(ip->pubkey);
	ip->pubkey = NULL;
}
