/* EC2 Instance Connect for issued credentials: the policy gate and the
 * per-host report (no CLI context: unit tests link this).  The run itself
 * is in ec2_issue_run.c.  See ec2_issue.h. */
#include "fleet/ec2_issue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/util.h"
#include "issue/policy.h"
#include "issue/requester.h"

int kb_ec2_gate(const struct kb_policy *pol, const struct kb_requester *who, const char *role, const char *os_user,
		const struct kb_ec2_selection *sel, char *rule, size_t rulelen, char *reason, size_t reasonlen,
		const char **ret_host)
{
	const char *principals[] = { os_user };
	int r = KB_OK;

	*ret_host = NULL;
	for (size_t i = 0; i < sel->n && r == KB_OK; i++) {
		struct kb_policy_decision d;
		struct kb_policy_request req = {
			.user = who->user, .groups = (const char *const *)who->groups, .ngroups = who->ngroups,
			.role = role, .principals = principals, .nprincipals = 1, .host = sel->names[i],
		};
		memset(&d, 0, sizeof(d));
		if ((r = kb_policy_decide(pol, &req, &d)) != KB_OK) {
			kb_policy_decision_done(&d);
			return r;
		}
		if (!d.allow) {
			kb_strlcpy(rule, d.rule, rulelen);
			kb_strlcpy(reason, d.reason, reasonlen);
			*ret_host = sel->names[i];
			r = KB_ERR_DENIED;
		} else if (!d.ec2_instance_connect) {
			kb_strlcpy(rule, d.rule, rulelen);
			snprintf(reason, reasonlen,
				 "role %s does not enable EC2 Instance Connect: set \"ec2_instance_connect\": true in "
				 "the role (broker-policy(5)) to push keys to its hosts",
				 role);
			*ret_host = sel->names[i];
			r = KB_ERR_DENIED;
		}
		kb_policy_decision_done(&d);
	}
	return r;
}

/* ---- reporting ---- */

static const char *status_of(const struct kb_ec2_target *t)
{
	return t->err ? "failed" : t->skipped ? "cached" : "pushed";
}

json_t *kb_ec2_results_json(const struct kb_ec2_selection *sel, const char *os_user, const char *fp)
{
	int64_t now = (int64_t)time(NULL);
	json_t *arr = json_array();

	for (size_t i = 0; arr != NULL && i < sel->n; i++) {
		const struct kb_ec2_target *t = &sel->t[i];
		int64_t left = t->pushed_at + KB_EC2_KEY_LIFETIME_S - now;
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s}", "instance_id", t->instance_id, "host",
				      sel->names[i], "os_user", os_user, "status", status_of(t), "attempts",
				      (int)t->attempts, "fingerprint", fp, "request_id", t->request_id);
		if (o == NULL) {
			json_decref(arr);
			return NULL;
		}
		if (t->err == 0)
			json_object_set_new(o, "valid_for_s", json_integer(left > 0 ? left : 0));
		else
			json_object_set_new(o, "error", json_string(t->detail[0] ? t->detail : kb_err_str(t->err)));
		json_array_append_new(arr, o);
	}
	return arr;
}

void kb_ec2_results_print(const struct kb_ec2_selection *sel, const char *os_user, const char *fp)
{
	int64_t now = (int64_t)time(NULL);

	for (size_t i = 0; i < sel->n; i++) {
		const struct kb_ec2_target *t = &sel->t[i];
		int64_t left = t->pushed_at + KB_EC2_KEY_LIFETIME_S - now;
		if (t->err != 0)
			fprintf(stderr, "broker: %s: push failed: %s%s%s\n", sel->names[i], kb_err_str(t->err),
				t->detail[0] ? ": " : "", t->detail);
		else if (t->skipped)
			printf("%s: %s for %s pushed %llds ago, valid about %llds more (not pushed again)\n", sel->names[i],
			       fp, os_user, (long long)(now - t->pushed_at), (long long)(left > 0 ? left : 0));
		else
			printf("%s: pushed %s for %s (request %s, %u attempt%s), valid for %llds\n", sel->names[i], fp,
			       os_user, t->request_id[0] ? t->request_id : "-", t->attempts, t->attempts == 1 ? "" : "s",
			       (long long)(left > 0 ? left : 0));
	}
	fflush(stdout);
}

void kb_ec2_print_retry(const struct kb_ec2_selection *sel, const char *role, const char *os_user,
			const char *keyfile)
{
	size_t failed = 0;

	for (size_t i = 0; i < sel->n; i++)
		failed += sel->t[i].err != 0;
	if (failed == 0)
		return;
	fprintf(stderr, "broker: %zu of %zu host%s not pushed:", failed, sel->n, sel->n == 1 ? " was" : "s were");
	for (size_t i = 0, k = 0; i < sel->n; i++) {
		const struct kb_ec2_target *t = &sel->t[i];
		if (t->err == 0)
			continue;
		fprintf(stderr, "%s %s", k++ ? "," : "", sel->names[i]);
		if (strcmp(sel->names[i], t->instance_id) != 0)
			fprintf(stderr, " (%s)", t->instance_id);
	}
	fprintf(stderr, "\nbroker: retry them with:\n  broker ec2 push ");
	if (keyfile != NULL)
		fprintf(stderr, "--key %s", keyfile);
	if (role != NULL)
		fprintf(stderr, "%s--role %s", keyfile ? " " : "", role);
	fprintf(stderr, " --os-user %s", os_user);
	for (size_t i = 0; i < sel->n; i++)
		if (sel->t[i].err != 0)
			fprintf(stderr, " --instance-id %s", sel->t[i].instance_id);
	fputc('\n', stderr);
}
