/* Policy engine: parsing, positions of problems, decisions, truncation and
 * bit-flip robustness. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "issue/policy.h"
#include "kbtest.h"

static const char good[] =
	"{\"version\": 1,\n"
	" \"roles\": {\n"
	"  \"deploy\": {\n"
	"   \"requesters\": {\"users\": [\"ci\", \"alice\"], \"groups\": [\"deployers\"]},\n"
	"   \"principals\": [\"deploy\", \"ubuntu\"], \"hosts\": [\"web-*\"],\n"
	"   \"default_ttl\": \"30m\", \"max_ttl\": \"2h\", \"key_types\": [\"ed25519\", \"ecdsa-p256\"],\n"
	"   \"extensions\": [\"permit-pty\"], \"critical_options\": {\"source-address\": \"10.0.0.0/8\"},\n"
	"   \"backend\": \"aws\", \"ec2_instance_connect\": true},\n"
	"  \"me\": {\"requesters\": {\"groups\": [\"staff\"]}, \"principals\": [\"{{requester}}\", \"u-{{requester}}\"]}\n"
	" },\n"
	" \"deny\": [{\"users\": [\"intern\"], \"roles\": [\"*\"]},\n"
	"          {\"groups\": [\"contractors\"], \"principals\": [\"ubuntu\"]}]}\n";

static struct kb_policy *load(const char *text, struct kb_policy_diags *d)
{
	struct kb_policy *p = NULL;
	kb_policy_parse(text, strlen(text), "t.json", &p, d);
	return p;
}

static void test_parse_good(void)
{
	struct kb_policy_diags d = { 0 };
	struct kb_policy *p = load(good, &d);
	KBT_CHECK(p != NULL);
	KBT_CHECK_INT(d.n, 0);
	if (p == NULL)
		return;
	KBT_CHECK_INT(p->nroles, 2);
	KBT_CHECK_INT(p->ndeny, 2);
	const struct kb_policy_role *r = kb_policy_find_role(p, "deploy");
	KBT_CHECK(r != NULL);
	if (r) {
		KBT_CHECK_INT(r->default_ttl, 1800);
		KBT_CHECK_INT(r->max_ttl, 7200);
		KBT_CHECK_INT(r->line, 3);
		KBT_CHECK_INT(r->col, 3);
		KBT_CHECK_STR(r->backend, "aws");
		KBT_CHECK(r->ec2_instance_connect);
		KBT_CHECK_INT(r->ncritical, 1);
	}
	const struct kb_policy_role *me = kb_policy_find_role(p, "me");
	KBT_CHECK(me && me->extensions.n == 1 && strcmp(me->extensions.v[0], "permit-pty") == 0);
	KBT_CHECK(me && me->default_ttl == 1800 && me->max_ttl == 3600);
	KBT_CHECK_INT(p->deny[1].line, 12);
	kb_policy_free(p);
	kb_policy_diags_free(&d);
}

static void decide(const struct kb_policy *p, const char *user, const char *group, const char *role,
		   const char *principal, int64_t ttl, const char *host, const char *kt,
		   struct kb_policy_decision *d)
{
	const char *groups[1] = { group };
	const char *prs[1] = { principal };
	struct kb_policy_request req = { .user = user, .groups = groups, .ngroups = group ? 1 : 0,
					 .role = role, .principals = prs, .nprincipals = principal ? 1 : 0,
					 .ttl = ttl, .host = host, .key_type = kt };
	KBT_CHECK_INT(kb_policy_decide(p, &req, d), KB_OK);
}

static void test_decide(void)
{
	struct kb_policy *p = load(good, NULL);
	struct kb_policy_decision d;
	KBT_CHECK(p != NULL);
	if (p == NULL)
		return;

	decide(p, "alice", NULL, "deploy", NULL, 0, NULL, NULL, &d);
	KBT_CHECK(d.allow);
	KBT_CHECK_STR(d.rule, "roles.deploy");
	KBT_CHECK_INT(d.principals.n, 2);
	KBT_CHECK_INT(d.ttl, 1800);
	KBT_CHECK_STR(d.key_type, "ed25519");
	KBT_CHECK_STR(d.backend, "aws");
	kb_policy_decision_done(&d);

	/* by group, explicit principal, ttl, host, key type */
	decide(p, "bob", "deployers", "deploy", "ubuntu", 3600, "web-3", "ecdsa-p256", &d);
	KBT_CHECK(d.allow);
	KBT_CHECK(d.principals.n == 1 && strcmp(d.principals.v[0], "ubuntu") == 0);
	KBT_CHECK_INT(d.ttl, 3600);
	kb_policy_decision_done(&d);

	decide(p, "alice", NULL, "deploy", "root", 0, NULL, NULL, &d);
	KBT_CHECK(!d.allow);
	KBT_CHECK_STR(d.reason, "role deploy does not allow principal root; allowed: deploy, ubuntu");
	kb_policy_decision_done(&d);

	decide(p, "alice", NULL, "deploy", NULL, 3 * 3600, NULL, NULL, &d);
	KBT_CHECK(!d.allow && strstr(d.reason, "at most 2h") != NULL);
	kb_policy_decision_done(&d);

	decide(p, "alice", NULL, "deploy", NULL, 0, "db-1", NULL, &d);
	KBT_CHECK(!d.allow && strstr(d.reason, "host db-1") != NULL);
	kb_policy_decision_done(&d);

	decide(p, "alice", NULL, "deploy", NULL, 0, NULL, "rsa-3072", &d);
	KBT_CHECK(!d.allow && strstr(d.reason, "key type rsa-3072") != NULL);
	kb_policy_decision_done(&d);

	/* default deny: not a requester, unknown role */
	decide(p, "mallory", NULL, "deploy", NULL, 0, NULL, NULL, &d);
	KBT_CHECK(!d.allow);
	KBT_CHECK_STR(d.rule, "default deny");
	kb_policy_decision_done(&d);
	decide(p, "alice", NULL, "nope", NULL, 0, NULL, NULL, &d);
	KBT_CHECK(!d.allow && strstr(d.reason, "roles you may use: deploy") != NULL);
	kb_policy_decision_done(&d);

	/* explicit deny wins even though intern is in deployers */
	decide(p, "intern", "deployers", "deploy", NULL, 0, NULL, NULL, &d);
	KBT_CHECK(!d.allow);
	KBT_CHECK_STR(d.rule, "deny[0]");
	KBT_CHECK_INT(d.line, 11);
	kb_policy_decision_done(&d);

	/* deny by principal: contractors may deploy but not as ubuntu,
	 * and asking for nothing specific includes ubuntu */
	decide(p, "carol", "contractors", "me", NULL, 0, NULL, NULL, &d);
	KBT_CHECK(!d.allow); /* carol is not staff */
	kb_policy_decision_done(&d);
	const char *groups[2] = { "deployers", "contractors" };
	const char *prs[1] = { "deploy" };
	struct kb_policy_request req = { .user = "carol", .groups = groups, .ngroups = 2, .role = "deploy" };
	KBT_CHECK_INT(kb_policy_decide(p, &req, &d), KB_OK);
	KBT_CHECK(!d.allow);
	KBT_CHECK_STR(d.rule, "deny[1]");
	kb_policy_decision_done(&d);
	req.principals = prs;
	req.nprincipals = 1;
	KBT_CHECK_INT(kb_policy_decide(p, &req, &d), KB_OK);
	KBT_CHECK(d.allow);
	kb_policy_decision_done(&d);

	/* templates */
	decide(p, "dave", "staff", "me", NULL, 0, NULL, NULL, &d);
	KBT_CHECK(d.allow && d.principals.n == 2);
	KBT_CHECK(d.principals.n == 2 && strcmp(d.principals.v[0], "dave") == 0 &&
		  strcmp(d.principals.v[1], "u-dave") == 0);
	kb_policy_decision_done(&d);
	decide(p, "dave", "staff", "me", "erin", 0, NULL, NULL, &d);
	KBT_CHECK(!d.allow);
	kb_policy_decision_done(&d);
	kb_policy_free(p);
}

static int find_diag(const struct kb_policy_diags *d, unsigned line, unsigned col, const char *needle)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].line == line && d->v[i].col == col && strstr(d->v[i].msg, needle) != NULL)
			return 1;
	for (size_t i = 0; i < d->n; i++)
		printf("#   have %u:%u %s\n", d->v[i].line, d->v[i].col, d->v[i].msg);
	return 0;
}

static void test_lint_positions(void)
{
	const char *bad = "{\"version\": 1,\n"
			  " \"roles\": {\"r\": {\n"
			  "   \"requesters\": {\"users\": [\"a\"]},\n"
			  "   \"principals\": [],\n"
			  "   \"max_ttl\": \"2x\",\n"
			  "   \"colour\": 1}},\n"
			  " \"deny\": [{\"users\": [\"a\"]}, {\"users\": [\"a\"], \"roles\": [\"r\"]}]}\n";
	struct kb_policy_diags d = { 0 };
	struct kb_policy *p = load(bad, &d);
	KBT_CHECK(p == NULL);
	KBT_CHECK(find_diag(&d, 4, 18, "principals is empty"));
	KBT_CHECK(find_diag(&d, 5, 15, "bad duration '2x'"));
	KBT_CHECK(find_diag(&d, 6, 4, "unknown field 'colour'"));
	KBT_CHECK(find_diag(&d, 7, 29, "deny[1] is shadowed by deny[0]"));
	KBT_CHECK(find_diag(&d, 2, 12, "role 'r' is shadowed"));
	KBT_CHECK_INT(d.nerrors, 3);
	KBT_CHECK(strstr(kb_err_detail(), "t.json:") == kb_err_detail());
	kb_policy_diags_free(&d);

	/* syntax errors carry jansson's line and column */
	p = load("{\"version\": 1,\n \"roles\": [}", &d);
	KBT_CHECK(p == NULL && d.n == 1 && d.v[0].line == 2);
	kb_policy_diags_free(&d);
	/* duplicate keys are an error */
	p = load("{\"version\": 1, \"version\": 1}", &d);
	KBT_CHECK(p == NULL && d.nerrors == 1);
	kb_policy_diags_free(&d);
	/* missing version, default > max, wrong types */
	p = load("{\"roles\": {\"r\": {\"requesters\": {\"users\": [\"a\"]}, \"principals\": [\"x\"],"
		 " \"default_ttl\": \"3h\", \"max_ttl\": \"1h\", \"hosts\": \"web\", \"backend\": \"s3\","
		 " \"ec2_instance_connect\": \"yes\"}}}", &d);
	KBT_CHECK(p == NULL);
	KBT_CHECK_INT(d.nerrors, 5);
	kb_policy_diags_free(&d);
	/* deep nesting is refused with a position */
	char deep[200];
	memset(deep, '[', 100);
	memset(deep + 100, ']', 99);
	deep[199] = '\0';
	deep[199 - 1] = ']';
	p = load(deep, &d);
	KBT_CHECK(p == NULL && d.nerrors >= 1);
	kb_policy_diags_free(&d);
}

static void test_expand(void)
{
	char *s = kb_policy_expand("{{requester}}-adm", "bob");
	KBT_CHECK_STR(s, "bob-adm");
	free(s);
	KBT_CHECK(kb_policy_expand("{{requester", "bob") == NULL);
	KBT_CHECK(kb_policy_expand("{{who}}", "bob") == NULL);
	KBT_CHECK(kb_policy_expand("a}}", "bob") == NULL);
	KBT_CHECK(kb_policy_expand("{{requester}}", "a,b") == NULL);
	KBT_CHECK(kb_policy_expand("{{requester}}", "a b") == NULL);
	char ttl[32];
	kb_policy_format_ttl(5400, ttl, sizeof(ttl));
	KBT_CHECK_STR(ttl, "1h30m");
}

/* Every truncation and every single bit flip of a valid policy must parse
 * or fail cleanly (ASan catches the rest). */
static void test_truncate_flip(void)
{
	size_t n = strlen(good);
	char *buf = malloc(n + 1);
	int parsed = 0;

	for (size_t i = 0; i < n; i++) {
		struct kb_policy *p = NULL;
		memcpy(buf, good, i);
		if (kb_policy_parse(buf, i, "t", &p, NULL) == KB_OK)
			parsed++;
		kb_policy_free(p);
	}
	KBT_CHECK_INT(parsed, 1); /* only the prefix without the final newline */
	for (size_t i = 0; i < n; i++)
		for (int bit = 0; bit < 8; bit++) {
			struct kb_policy *p = NULL;
			struct kb_policy_diags d = { 0 };
			memcpy(buf, good, n);
			buf[i] ^= (char)(1 << bit);
			int r = kb_policy_parse(buf, n, "t", &p, &d);
			KBT_CHECK(r == KB_OK || r == KB_ERR_INVALID);
			KBT_CHECK((r == KB_OK) == (p != NULL));
			KBT_CHECK(r == KB_OK || d.nerrors > 0);
			kb_policy_free(p);
			kb_policy_diags_free(&d);
		}
	free(buf);
}

static void test_examples(void)
{
	const char *files[] = { "deploy-ci.json", "break-glass.json", "read-only.json", "example.json" };
	const char *root = getenv("KB_SOURCE_ROOT");
	if (root == NULL)
		return;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[1024];
		struct kb_policy *p = NULL;
		struct kb_policy_diags d = { 0 };
		snprintf(path, sizeof(path), "%s/policies/%s", root, files[i]);
		KBT_CHECK_INT(kb_policy_load(path, &p, &d), KB_OK);
		KBT_CHECK_INT(d.n, 0);
		kb_policy_free(p);
		kb_policy_diags_free(&d);
	}
}

int main(void)
{
	kb_init();
	KBT_RUN(test_parse_good);
	KBT_RUN(test_decide);
	KBT_RUN(test_lint_positions);
	KBT_RUN(test_expand);
	KBT_RUN(test_truncate_flip);
	KBT_RUN(test_examples);
	return kbt_done();
}
