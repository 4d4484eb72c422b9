/* broker policy lint [--strict] [FILE]
 * broker policy check [--user U] [--group G]... --role R [--principal P]...
 *                     [--ttl D] [--host H] [--key-type T] [FILE] */
#include "commands.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "core/mem.h"
#include "core/err.h"
#include "core/util.h"
#include "policy.h"
#include "requester.h"

static const char *policy_file(struct kb_ctx *ctx, const char *arg)
{
	if (arg != NULL)
		return arg;
	struct kb_config *cfg = kb_ctx_config(ctx);
	return cfg ? kb_policy_path(cfg) : NULL;
}

static int diag_cmp(const void *a, const void *b)
{
	const struct kb_policy_diag *x = a, *y = b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return 0;
}

static int cmd_lint(struct kb_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { { "strict", no_argument, NULL, 's' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	bool strict = false;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 's') {
			strict = true;
		} else if (c == 'h') {
			printf("usage: broker policy lint [--strict] [FILE]\n");
			return KB_EXIT_OK;
		} else {
			return KB_EXIT_USAGE;
		}
	}
	if (argc - optind > 1)
		return kb_usage_error(ctx, "policy lint takes one FILE");
	const char *path = policy_file(ctx, optind < argc ? argv[optind] : NULL);
	if (path == NULL)
		return KB_EXIT_FAILURE;

	struct kb_policy *pol = NULL;
	struct kb_policy_diags d = { 0 };
	int r = kb_policy_load(path, &pol, &d);
	if (r != KB_OK && r != KB_ERR_INVALID) {
		kb_policy_diags_free(&d);
		return kb_fail(ctx, r, "cannot read policy %s", path);
	}
	size_t nwarn = d.n - d.nerrors;
	if (d.n > 1)
		qsort(d.v, d.n, sizeof(d.v[0]), diag_cmp);
	bool ok = d.nerrors == 0 && (!strict || nwarn == 0);
	if (ctx->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < d.n; i++)
			json_array_append_new(arr, json_pack("{s:i,s:i,s:s,s:s}", "line", (int)d.v[i].line, "column",
							     (int)d.v[i].col, "severity",
							     d.v[i].severity == KB_POLICY_ERROR ? "error" : "warning",
							     "message", d.v[i].msg));
		kb_print_json(json_pack("{s:s,s:b,s:i,s:i,s:o}", "file", path, "ok", ok, "errors", (int)d.nerrors,
				     "warnings", (int)nwarn, "problems", arr));
	} else {
		for (size_t i = 0; i < d.n; i++)
			printf("%s:%u:%u: %s: %s\n", path, d.v[i].line, d.v[i].col,
			       d.v[i].severity == KB_POLICY_ERROR ? "error" : "warning", d.v[i].msg);
		if (d.n == 0)
			printf("%s: ok (%zu roles, %zu deny rules)\n", path, pol ? pol->nroles : 0,
			       pol ? pol->ndeny : 0);
		else
			printf("%s: %zu error%s, %zu warning%s\n", path, d.nerrors, d.nerrors == 1 ? "" : "s", nwarn,
			       nwarn == 1 ? "" : "s");
	}
	kb_policy_diags_free(&d);
	kb_policy_free(pol);
	return ok ? KB_EXIT_OK : KB_EXIT_FAILURE;
}

static json_t *strv_json(const struct kb_policy_strv *s)
{
	json_t *a = json_array();
	for (size_t i = 0; i < s->n; i++)
		json_array_append_new(a, json_string(s->v[i]));
	return a;
}

static int cmd_check(struct kb_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "user", required_argument, NULL, 'u' },  { "group", required_argument, NULL, 'g' },
		{ "role", required_argument, NULL, 'r' },  { "principal", required_argument, NULL, 'n' },
		{ "ttl", required_argument, NULL, 't' },   { "host", required_argument, NULL, 'H' },
		{ "key-type", required_argument, NULL, 'k' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kb_policy_request req = { 0 };
	const char *principals[KB_POLICY_MAX_LIST], *groups[KB_POLICY_MAX_LIST];
	size_t ngroups = 0;
	bool groups_given = false;
	struct kb_requester who = { 0 };
	int c, rc = KB_EXIT_FAILURE;

	req.principals = principals;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'u': req.user = optarg; break;
		case 'r': req.role = optarg; break;
		case 'H': req.host = optarg; break;
		case 'k': req.key_type = optarg; break;
		case 'g':
			if (ngroups == KB_POLICY_MAX_LIST)
				return kb_usage_error(ctx, "too many --group options");
			groups[ngroups++] = optarg;
			groups_given = true;
			break;
		case 'n':
			if (req.nprincipals == KB_POLICY_MAX_LIST)
				return kb_usage_error(ctx, "too many --principal options");
			principals[req.nprincipals++] = optarg;
			break;
		case 't':
			if (kb_parse_duration(optarg, &req.ttl) != KB_OK || req.ttl <= 0)
				return kb_usage_error(ctx, "bad --ttl '%s': use e.g. 90s, 30m, 2h", optarg);
			break;
		case 'h':
			printf("usage: broker policy check [--user U] [--group G]... --role R [--principal P]...\n"
			       "                           [--ttl D] [--host H] [--key-type T] [FILE]\n");
			return KB_EXIT_OK;
		default:
			return KB_EXIT_USAGE;
		}
	}
	if (req.role == NULL)
		return kb_usage_error(ctx, "policy check needs --role ROLE");
	if (argc - optind > 1)
		return kb_usage_error(ctx, "policy check takes at most one FILE");
	/* Without --group, use the user's groups from this system (if the
	 * user exists here); without --user, the current user. */
	int r = req.user ? kb_requester_from_name(req.user, &who) : kb_requester_from_uid(getuid(), &who);
	if (r == KB_OK) {
		if (req.user == NULL)
			req.user = who.user;
		if (!groups_given)
			for (size_t i = 0; i < who.ngroups && ngroups < KB_POLICY_MAX_LIST; i++)
				groups[ngroups++] = who.groups[i];
	} else if (req.user == NULL) {
		return kb_fail(ctx, r, "cannot tell who you are");
	}
	req.groups = groups;
	req.ngroups = ngroups;

	const char *path = policy_file(ctx, optind < argc ? argv[optind] : NULL);
	struct kb_policy *pol = NULL;
	struct kb_policy_decision d = { 0 };
	if (path == NULL)
		goto out;
	if ((r = kb_policy_load(path, &pol, NULL)) != KB_OK) {
		rc = kb_fail(ctx, r, "cannot load policy %s", path);
		goto out;
	}
	if ((r = kb_policy_decide(pol, &req, &d)) != KB_OK) {
		rc = kb_fail(ctx, r, "cannot decide");
		goto out;
	}
	char ttl[64] = "";
	if (d.allow)
		kb_policy_format_ttl(d.ttl, ttl, sizeof(ttl));
	if (ctx->json) {
		json_t *crit = json_object();
		for (size_t i = 0; i < d.ncritical; i++)
			json_object_set_new(crit, d.critical[i].name, json_string(d.critical[i].value));
		json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "decision", d.allow ? "allow" : "deny", "rule", d.rule,
				      "user", req.user, "role", req.role);
		if (d.line)
			json_object_set_new(j, "line", json_integer(d.line));
		if (d.allow) {
			json_object_set_new(j, "principals", strv_json(&d.principals));
			json_object_set_new(j, "ttl_seconds", json_integer(d.ttl));
			json_object_set_new(j, "key_type", json_string(d.key_type));
			json_object_set_new(j, "extensions", strv_json(&d.extensions));
			json_object_set_new(j, "critical_options", crit);
			json_object_set_new(j, "backend", d.backend ? json_string(d.backend) : json_null());
			json_object_set_new(j, "ec2_instance_connect", json_boolean(d.ec2_instance_connect));
		} else {
			json_decref(crit);
			json_object_set_new(j, "reason", json_string(d.reason));
		}
		kb_print_json(j);
	} else if (d.allow) {
		printf("allow  (rule %s, %s line %u)\n", d.rule, path, d.line);
		printf("  principals:   ");
		for (size_t i = 0; i < d.principals.n; i++)
			printf("%s%s", i ? ", " : "", d.principals.v[i]);
		printf("\n  ttl:          %s\n  key type:     %s\n  extensions:   ", ttl, d.key_type);
		for (size_t i = 0; i < d.extensions.n; i++)
			printf("%s%s", i ? ", " : "", d.extensions.v[i]);
		printf("%s\n", d.extensions.n ? "" : "(none)");
		for (size_t i = 0; i < d.ncritical; i++)
			printf("  critical:     %s%s%s\n", d.critical[i].name, d.critical[i].value[0] ? "=" : "",
			       d.critical[i].value);
		if (d.backend)
			printf("  backend:      %s\n", d.backend);
		if (d.ec2_instance_connect)
			printf("  ec2 instance connect: yes\n");
	} else {
		if (d.line)
			printf("deny  (rule %s, %s line %u)\n  %s\n", d.rule, path, d.line, d.reason);
		else
			printf("deny  (rule %s)\n  %s\n", d.rule, d.reason);
	}
	rc = d.allow ? KB_EXIT_OK : KB_EXIT_DENIED;
out:
	kb_policy_decision_done(&d);
	kb_policy_free(pol);
	kb_requester_done(&who);
	return rc;
}

int cmd_policy(struct kb_ctx *ctx, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		printf("usage: broker policy lint [--strict] [FILE]\n"
		       "       broker policy check [--user U] [--group G]... --role R [--principal P]...\n"
		       "                           [--ttl D] [--host H] [--key-type T] [FILE]\n"
		       "FILE defaults to the configured policy (--policy, BROKER_POLICY, config 'policy').\n");
		return argc < 2 ? KB_EXIT_USAGE : KB_EXIT_OK;
	}
	if (strcmp(argv[1], "lint") == 0)
		return cmd_lint(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "check") == 0)
		return cmd_check(ctx, argc - 1, argv + 1);
	return kb_usage_error(ctx, "unknown policy command '%s' (use lint or check)", argv[1]);
}
