/* broker ec2 push: EC2 Instance Connect SendSSHPublicKey for one or many
 * instances (from --instance-id or a Terraform state), SigV4-signed,
 * bounded parallelism, throttling retried, once per host per 60 s window. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "core/err.h"
#include "core/util.h"
#include "fleet/ec2_issue.h"
#include "fleet/ec2_push.h"
#include "fleet/fleet.h"
#include "fleet/inventory.h"
#include "issue/policy.h"
#include "issue/requester.h"

#define MAX_IDS 1024

static void usage(FILE *f)
{
	fprintf(f,
		"usage: broker ec2 push (--instance-id ID ... | --terraform-state FILE [--group GROUP])\n"
		"                       (--key PUBFILE [--role ROLE] | --role ROLE [--ttl D] [--agent SOCKET])\n"
		"                       [--os-user USER] [--az ZONE] [--parallel N] [--force] [--no-cache]\n"
		"                       [--region R] [--endpoint-url URL] [--profile P]\n"
		"  Pushes a public key with EC2 Instance Connect; the key is usable for 60 s.  A key pushed\n"
		"  less than 45 s ago to the same instance and user is not pushed again (--force does).\n"
		"  --key PUBFILE pushes that key; with --role the policy must allow USER on every host\n"
		"  and the role must set ec2_instance_connect.\n"
		"  --role ROLE without --key issues a credential under ROLE (as 'broker issue' does),\n"
		"  loads it into the agent (SSH_AUTH_SOCK or --agent) with its certificate's lifetime, and\n"
		"  pushes its public key; --os-user defaults to the role's first principal.\n");
}

/* The policy gate for --key with --role: nothing is issued, so nothing is
 * audited; the role must allow the caller with os_user on every host and
 * enable Instance Connect. */
static int check_role(struct kb_ctx *ctx, const char *role, const char *os_user, const struct kb_ec2_selection *sel)
{
	struct kb_config *cfg = kb_ctx_config(ctx);
	struct kb_policy *pol = NULL;
	struct kb_requester who = { 0 };
	char rule[160] = "", reason[768] = "";
	const char *path, *host = NULL;
	int r;

	if (cfg == NULL)
		return KB_ERR_INVALID;
	if ((path = kb_policy_path(cfg)) == NULL) {
		fprintf(stderr, "broker: ec2 push --role: no policy configured (--policy or BROKER_POLICY)\n");
		return KB_ERR_NOT_FOUND;
	}
	if ((r = kb_policy_load(path, &pol, NULL)) != 0) {
		kb_fail(ctx, r, "cannot load policy %s", path);
		return r;
	}
	if ((r = kb_requester_from_uid(getuid(), &who)) != 0) {
		kb_fail(ctx, r, "cannot resolve the calling user");
		goto out;
	}
	r = kb_ec2_gate(pol, &who, role, os_user, sel, rule, sizeof(rule), reason, sizeof(reason), &host);
	if (r == KB_ERR_DENIED)
		fprintf(stderr, "broker: policy denies %s as %s on %s (%s): %s\n", who.user, os_user, host ? host : "?",
			rule, reason);
	else if (r != 0)
		kb_fail(ctx, r, "policy decision");
out:
	kb_requester_done(&who);
	kb_policy_free(pol);
	return r;
}

static void print_results(const struct kb_ctx *ctx, const struct kb_ec2_selection *sel, const char *user,
			  const char *fp, const char *key_id)
{
	if (!ctx->json) {
		kb_ec2_results_print(sel, user, fp);
		return;
	}
	json_t *arr = kb_ec2_results_json(sel, user, fp);
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o)
		if (key_id != NULL)
			json_object_set_new(o, "key_id", json_string(key_id));
	if (arr != NULL)
		json_dumpf(arr, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(arr);
}

/* --role without --key: issue, load the agent, push (ec2_issue.h). */
static int push_issued(struct kb_ctx *ctx, struct kb_ec2_selection *sel, const char *role, const char *ttl_text,
		       const char *agent, const struct kb_ec2_push_opts *po)
{
	struct kb_ec2_issue_push ip = { .role = role, .via = "cli", .push = *po, .sel = sel };
	struct kb_config *cfg = kb_ctx_config(ctx);
	int r, rc;

	if (cfg == NULL)
		return KB_EXIT_FAILURE;
	if (ttl_text != NULL && (kb_parse_duration(ttl_text, &ip.ttl) != 0 || ip.ttl <= 0))
		return kb_usage_error(ctx, "ec2 push: bad --ttl '%s': use e.g. 90s, 30m, 2h", ttl_text);
	ip.agent = agent ? agent : kb_config_get(cfg, "agent.socket");
	if (ip.agent == NULL)
		return kb_usage_error(ctx, "ec2 push --role: no agent for the issued key: SSH_AUTH_SOCK is not set; "
					   "start one (eval $(broker-agent -s)) or give --agent SOCKET");
	r = kb_ec2_issue_and_push(ctx, &ip);
	if (!ip.issued) {
		rc = kb_exit_for(r);
		goto out;
	}
	if (!ctx->json)
		printf("issued %s (%s), in the agent %s for %us, with and without its certificate\n", ip.res.key_id,
		       ip.fingerprint, ip.load.socket ? ip.load.socket : "-", ip.load.lifetime);
	print_results(ctx, sel, ip.os_user, ip.fingerprint, ip.res.key_id);
	if (ip.failed > 0) {
		fprintf(stderr, "broker: the credential %s stays issued and in the agent (its certificate still works "
				"where the broker CA is trusted)\n", ip.res.key_id);
		kb_ec2_print_retry(sel, role, ip.os_user, NULL);
	}
	rc = kb_exit_for(r);
out:
	kb_ec2_issue_push_done(&ip);
	return rc;
}

static int cmd_push(struct kb_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "instance-id", required_argument, NULL, 'i' }, { "terraform-state", required_argument, NULL, 's' },
		{ "group", required_argument, NULL, 'g' },       { "os-user", required_argument, NULL, 'u' },
		{ "az", required_argument, NULL, 'z' },          { "key", required_argument, NULL, 'k' },
		{ "role", required_argument, NULL, 'r' },        { "parallel", required_argument, NULL, 'P' },
		{ "force", no_argument, NULL, 'F' },             { "no-cache", no_argument, NULL, 'N' },
		{ "region", required_argument, NULL, 'R' },      { "endpoint-url", required_argument, NULL, 'E' },
		{ "profile", required_argument, NULL, 'p' },     { "ttl", required_argument, NULL, 't' },
		{ "agent", required_argument, NULL, 'a' },       { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ids[MAX_IDS], *user = NULL, *keyfile = NULL, *role = NULL, *ttl = NULL, *agent = NULL;
	struct kb_ec2_select_opts so = { .ids = ids };
	size_t nids = 0;
	uint64_t parallel = 8;
	struct kb_ec2_push_opts o = { 0 };
	struct kb_ec2_selection sel = { 0 };
	char *pubkey = NULL, *cache = NULL, fp[96];
	bool no_cache = false;
	int c, r, rc = KB_EXIT_FAILURE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (nids == MAX_IDS)
				return kb_usage_error(ctx, "ec2 push: more than %d --instance-id", MAX_IDS);
			ids[nids++] = optarg;
			break;
		case 's': so.state = optarg; break;
		case 'g': so.group = optarg; break;
		case 'u': user = optarg; break;
		case 'z': so.az = optarg; break;
		case 'k': keyfile = optarg; break;
		case 'r': role = optarg; break;
		case 't': ttl = optarg; break;
		case 'a': agent = optarg; break;
		case 'P':
			if (kb_parse_u64(optarg, KB_EC2_MAX_PARALLEL, &parallel) != 0 || parallel == 0)
				return kb_usage_error(ctx, "ec2 push: --parallel takes 1 to %d", KB_EC2_MAX_PARALLEL);
			break;
		case 'F': o.force = true; break;
		case 'N': no_cache = true; break;
		case 'R': o.region = optarg; break;
		case 'E': o.endpoint = optarg; break;
		case 'p': o.profile = optarg; break;
		case 'h': usage(stdout); return KB_EXIT_OK;
		default: usage(stderr); return KB_EXIT_USAGE;
		}
	}
	so.nids = nids;
	if (optind != argc)
		return kb_usage_error(ctx, "ec2 push: unexpected argument '%s'", argv[optind]);
	if ((nids == 0) == (so.state == NULL))
		return kb_usage_error(ctx, "ec2 push: give --instance-id ID (repeatable) or --terraform-state FILE");
	if (user != NULL && !kb_fleet_valid_os_user(user))
		return kb_usage_error(ctx, "ec2 push: --os-user needs a valid OS user name (1-32 characters, "
					   "letters, digits, '.', '_', '-', '@')");
	if (keyfile == NULL && role == NULL)
		return kb_usage_error(ctx, "ec2 push: give --key PUBFILE (the public key to push) or --role ROLE (issue "
					   "a credential under ROLE and push its key)");
	if (keyfile != NULL && user == NULL)
		return kb_usage_error(ctx, "ec2 push: --key needs --os-user USER");
	if (keyfile != NULL && (ttl != NULL || agent != NULL))
		return kb_usage_error(ctx, "ec2 push: --ttl and --agent apply to an issued key (--role without --key)");
	/* Validation before any file or network access. */
	for (size_t i = 0; i < nids; i++)
		if (!kb_fleet_valid_instance_id(ids[i]))
			return kb_usage_error(ctx, "ec2 push: '%s' is not an instance id (i- and 8 or 17 hex digits)",
					      ids[i]);
	if (so.az != NULL && !kb_fleet_valid_az(so.az))
		return kb_usage_error(ctx, "ec2 push: '%s' is not an availability zone name (like eu-west-1a)", so.az);
	if (keyfile != NULL && (r = kb_ec2_read_pubkey(keyfile, &pubkey, fp, sizeof(fp))) != 0)
		return kb_fail(ctx, r, "ec2 push: cannot use --key %s", keyfile);
	if ((r = kb_ec2_select(&so, &sel)) != 0) {
		rc = r == KB_ERR_ARGS ? kb_usage_error(ctx, "ec2 push: %s", kb_err_detail())
				      : kb_fail(ctx, r, "ec2 push");
		goto out;
	}
	if (!no_cache && (cache = kb_ec2_default_cache_path()) == NULL) {
		rc = kb_fail(ctx, KB_ERR_IO, "ec2 push: no place for the push cache (set XDG_RUNTIME_DIR or HOME, or "
					     "pass --no-cache)");
		goto out;
	}
	o.parallel = (unsigned)parallel;
	o.cache_path = cache;
	if (keyfile == NULL) {
		o.os_user = user;
		rc = push_issued(ctx, &sel, role, ttl, agent, &o);
		goto out;
	}
	if (role != NULL && (r = check_role(ctx, role, user, &sel)) != 0) {
		rc = kb_exit_for(r);
		goto out;
	}
	o.os_user = user;
	o.pubkey = pubkey;
	o.fingerprint = fp;
	r = kb_ec2_push_many(&o, sel.t, sel.n);
	print_results(ctx, &sel, user, fp, NULL);
	if (r != 0)
		kb_ec2_print_retry(&sel, role, user, keyfile);
	rc = r == 0 ? KB_EXIT_OK : kb_exit_for(r);
out:
	free(cache);
	free(pubkey);
	kb_ec2_selection_done(&sel);
	return rc;
}

int cmd_ec2(struct kb_ctx *ctx, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "push") == 0)
		return cmd_push(ctx, argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return KB_EXIT_OK;
	}
	usage(stderr);
	return KB_EXIT_USAGE;
}
