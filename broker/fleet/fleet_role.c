/* Role lookups in the policy for the fleet commands (kept apart from
 * fleet.c: it needs the CLI context, which unit tests do not link). */
#include <stdio.h>
#include <unistd.h>

#include "core/err.h"
#include "fleet/fleet.h"
#include "issue/policy.h"
#include "issue/requester.h"

int kb_fleet_role_user(struct kb_ctx *ctx, const char *role, char **ret_user)
{
	struct kb_config *cfg;
	struct kb_policy *pol = NULL;
	struct kb_requester who = { 0 };
	const struct kb_policy_role *pr;
	const char *path;
	int r;

	*ret_user = NULL;
	if ((cfg = kb_ctx_config(ctx)) == NULL)
		return KB_ERR_INVALID;
	if ((path = kb_policy_path(cfg)) == NULL) {
		fprintf(stderr, "broker: --role %s: no policy configured (set --policy, BROKER_POLICY or 'policy' in "
				"the configuration), or pass --user\n", role);
		return KB_ERR_NOT_FOUND;
	}
	if ((r = kb_policy_load(path, &pol, NULL)) != 0) {
		kb_fail(ctx, r, "cannot load policy %s", path);
		return r;
	}
	pr = kb_policy_find_role(pol, role);
	if (pr == NULL || pr->principals.n == 0) {
		fprintf(stderr, "broker: policy %s has no role '%s' with principals; see 'broker policy lint'\n", path,
			role);
		r = KB_ERR_NOT_FOUND;
		goto out;
	}
	if ((r = kb_requester_from_uid(getuid(), &who)) != 0) {
		kb_fail(ctx, r, "cannot resolve the calling user");
		goto out;
	}
	if ((*ret_user = kb_policy_expand(pr->principals.v[0], who.user)) == NULL) {
		fprintf(stderr, "broker: role '%s': principal '%s' does not expand to a valid user name\n", role,
			pr->principals.v[0]);
		r = KB_ERR_INVALID;
	}
out:
	kb_requester_done(&who);
	kb_policy_free(pol);
	return r;
}
