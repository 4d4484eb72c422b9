/* Fuzz target: the policy parser, linter and a decision on what parsed. */
#include <stddef.h>
#include <stdint.h>

#include "issue/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kb_policy *p = NULL;
	struct kb_policy_diags d = { 0 };

	if (kb_policy_parse((const char *)data, size, "fuzz", &p, &d) == 0 && p != NULL) {
		const char *groups[] = { "deployers", "admins" };
		const char *prs[] = { "deploy" };
		for (size_t i = 0; i < p->nroles; i++) {
			struct kb_policy_request req = { .user = "ci", .groups = groups, .ngroups = 2,
							 .role = p->roles[i].name, .host = "web-1" };
			struct kb_policy_decision dec;
			kb_policy_decide(p, &req, &dec);
			kb_policy_decision_done(&dec);
			req.principals = prs;
			req.nprincipals = 1;
			req.ttl = 600;
			kb_policy_decide(p, &req, &dec);
			kb_policy_decision_done(&dec);
		}
	}
	kb_policy_free(p);
	kb_policy_diags_free(&d);
	return 0;
}
