/* Unit tests of the EC2 Instance Connect push plumbing: choosing instances
 * (state, group, ids, duplicates, validation) and the policy gate that runs
 * before anything is issued. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/util.h"
#include "fleet/ec2_issue.h"
#include "issue/policy.h"
#include "issue/requester.h"
#include "kbtest.h"

static const char *tfdir;

static char *state_path(const char *name)
{
	return kb_asprintf("%s/%s", tfdir, name);
}

static void test_select(void)
{
	struct kb_ec2_selection s;
	char *st = state_path("v4-modules.tfstate"), *empty = state_path("v4-no-instances.tfstate");
	const char *ids[] = { "i-0123456789abcdef1", "i-0aaaaaaaaaaaaaaab", "i-0aaaaaaaaaaaaaaab" };
	const char *bad[] = { "i-0123456789ABCDEF0" };

	/* Only ids: duplicates pushed once, zone as given. */
	struct kb_ec2_select_opts o = { .ids = ids, .nids = 3, .az = "eu-west-1b" };
	KBT_CHECK_INT(kb_ec2_select(&o, &s), KB_OK);
	KBT_CHECK_INT(s.n, 2);
	KBT_CHECK_STR(s.names[1], "i-0aaaaaaaaaaaaaaab");
	KBT_CHECK_STR(s.t[0].az, "eu-west-1b");
	kb_ec2_selection_done(&s);

	/* A group of the state, plus an id already in it and one that is not. */
	o = (struct kb_ec2_select_opts){ .state = st, .group = "tag_Role_web", .ids = ids, .nids = 2 };
	KBT_CHECK_INT(kb_ec2_select(&o, &s), KB_OK);
	KBT_CHECK_INT(s.n, 4);
	KBT_CHECK_STR(s.names[0], "web-0");
	KBT_CHECK_STR(s.t[0].az, "eu-west-1a");
	KBT_CHECK_STR(s.t[1].instance_id, "i-0123456789abcdef1");
	KBT_CHECK_STR(s.names[3], "i-0aaaaaaaaaaaaaaab");
	KBT_CHECK(s.t[3].az == NULL);
	kb_ec2_selection_done(&s);

	/* A zone group, with an 8-digit id from a nested module. */
	o = (struct kb_ec2_select_opts){ .state = st, .group = "az_eu_west_1c" };
	KBT_CHECK_INT(kb_ec2_select(&o, &s), KB_OK);
	KBT_CHECK_INT(s.n, 2);
	KBT_CHECK_STR(s.names[0], "web-2");
	KBT_CHECK_STR(s.t[1].instance_id, "i-1234abcd");
	KBT_CHECK_STR(s.t[1].az, "eu-west-1c");
	kb_ec2_selection_done(&s);

	/* Failures: a bad id (before reading anything), a group without a
	 * state, an unknown group, an empty state, a missing file, a bad zone. */
	o = (struct kb_ec2_select_opts){ .state = "/nonexistent/state", .ids = bad, .nids = 1 };
	KBT_CHECK_INT(kb_ec2_select(&o, &s), KB_ERR_ARGS);
	KBT_CHECK(strstr(kb_err_detail(), "i-0123456789ABCDEF0") != NULL);
	o = (struct kb_ec2_select_opts){ .group = "x", .ids = ids, .nids = 1 };
	KBT_CHECK_INT(kb_ec2_select(&o, &s), KB_ERR_ARGS);
	o = (struct kb_ec2_select_opts){ .state = st, .group = "tag_Role_nosuch" };
	KBT_CHECK_INT(kb_ec2_select(&o, &s), KB_ERR_NOT_FOUND);
	o = (struct kb_ec2_select_opts){ .state = empty };
	KBT_CHECK_INT(kb_ec2_select(&o, &s), KB_ERR_NOT_FOUND);
	o = (struct kb_ec2_select_opts){ .state = "/nonexistent/state" };
	KBT_CHECK_INT(kb_ec2_select(&o, &s), KB_ERR_NOT_FOUND);
	KBT_CHECK(strstr(kb_err_detail(), "/nonexistent/state") != NULL);
	o = (struct kb_ec2_select_opts){ .ids = ids, .nids = 1, .az = "mars-1" };
	KBT_CHECK_INT(kb_ec2_select(&o, &s), KB_ERR_ARGS);
	KBT_CHECK(s.n == 0 && s.t == NULL);
	free(st);
	free(empty);
}

static const char POLICY[] =
	"{\"version\": 1, \"roles\": {\n"
	" \"eic\": {\"requesters\": {\"users\": [\"alice\"]}, \"principals\": [\"ec2-user\", \"{{requester}}\"],\n"
	"         \"ec2_instance_connect\": true},\n"
	" \"web\": {\"requesters\": {\"users\": [\"alice\"]}, \"principals\": [\"ec2-user\"], \"hosts\": [\"web-*\"],\n"
	"         \"ec2_instance_connect\": true},\n"
	" \"plain\": {\"requesters\": {\"users\": [\"alice\"]}, \"principals\": [\"ec2-user\"]}},\n"
	" \"deny\": [{\"users\": [\"alice\"], \"hosts\": [\"db-*\"]}]}\n";

static int gate(const struct kb_policy *pol, const char *user, const char *role, const char *os_user,
		const char *const *names, size_t n, char *reason, const char **host)
{
	struct kb_ec2_target t[8];
	struct kb_ec2_selection sel = { .t = t, .names = (const char **)names, .n = n };
	struct kb_requester who = { .user = (char *)user };
	char rule[160];

	memset(t, 0, sizeof(t));
	for (size_t i = 0; i < n; i++)
		t[i].instance_id = "i-0123456789abcdef0";
	return kb_ec2_gate(pol, &who, role, os_user, &sel, rule, sizeof(rule), reason, 768, host);
}

static void test_gate(void)
{
	struct kb_policy *pol = NULL;
	const char *web[] = { "web-a", "web-b" }, *mixed[] = { "web-a", "bastion" }, *db[] = { "web-a", "db-1" };
	const char *host;
	char reason[768];

	KBT_CHECK_INT(kb_policy_parse(POLICY, strlen(POLICY), "test", &pol, NULL), KB_OK);
	if (pol == NULL)
		return;
	KBT_CHECK_INT(gate(pol, "alice", "eic", "ec2-user", web, 2, reason, &host), KB_OK);
	KBT_CHECK(host == NULL);
	KBT_CHECK_INT(gate(pol, "alice", "eic", "alice", mixed, 2, reason, &host), KB_OK);
	/* Instance Connect not enabled for the role. */
	KBT_CHECK_INT(gate(pol, "alice", "plain", "ec2-user", web, 2, reason, &host), KB_ERR_DENIED);
	KBT_CHECK(strstr(reason, "ec2_instance_connect") != NULL);
	KBT_CHECK_STR(host, "web-a");
	/* A host outside the role, an explicit deny, another principal,
	 * another requester, an unknown role. */
	KBT_CHECK_INT(gate(pol, "alice", "web", "ec2-user", mixed, 2, reason, &host), KB_ERR_DENIED);
	KBT_CHECK_STR(host, "bastion");
	KBT_CHECK_INT(gate(pol, "alice", "eic", "ec2-user", db, 2, reason, &host), KB_ERR_DENIED);
	KBT_CHECK_STR(host, "db-1");
	KBT_CHECK_INT(gate(pol, "alice", "eic", "root", web, 2, reason, &host), KB_ERR_DENIED);
	KBT_CHECK_INT(gate(pol, "bob", "eic", "ec2-user", web, 2, reason, &host), KB_ERR_DENIED);
	KBT_CHECK_INT(gate(pol, "alice", "nosuch", "ec2-user", web, 2, reason, &host), KB_ERR_DENIED);
	KBT_CHECK(reason[0] != '\0');
	kb_policy_free(pol);
}

int main(int argc, char **argv)
{
	tfdir = argc > 1 ? argv[1] : "tests/fleet/tfstate";
	KBT_RUN(test_select);
	KBT_RUN(test_gate);
	return kbt_done();
}
