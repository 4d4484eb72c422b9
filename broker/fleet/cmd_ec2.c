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
#include "core/err.h"
#include "core/util.h"
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
		"                       --os-user USER [--az ZONE] --key PUBFILE [--role ROLE]\n"
		"                       [--parallel N] [--force] [--no-cache] [--region R] [--endpoint-url URL]\n"
		"                       [--profile P]\n"
		"  Pushes PUBFILE with EC2 Instance Connect; the key is usable for 60 s.  A key pushed\n"
		"  less than 45 s ago to the same instance and user is not pushed again (--force does).\n"
		"  --role checks the policy: the role must allow USER and set ec2_instance_connect.\n");
}

/* The policy gate for --role: the role must exist, have Instance Connect
 * enabled, allow the caller, and allow os_user as a principal on every
 * host.  The policy is loaded once. */
static int check_role(struct kb_ctx *ctx, const char *role, const char *os_user, const char **hosts, size_t n)
{
	struct kb_config *cfg = kb_ctx_config(ctx);
	struct kb_policy *pol = NULL;
	struct kb_requester who = { 0 };
	const char *path;
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
	for (size_t i = 0; i < n && r == 0; i++) {
		struct kb_policy_decision d;
		const char *principals[] = { os_user };
		struct kb_policy_request req = {
			.user = who.user, .groups = (const char *const *)who.groups, .ngroups = who.ngroups,
			.role = role, .principals = principals, .nprincipals = 1, .host = hosts[i],
		};
		memset(&d, 0, sizeof(d));
		if ((r = kb_policy_decide(pol, &req, &d)) != 0) {
			kb_fail(ctx, r, "policy decision");
		} else if (!d.allow) {
			fprintf(stderr, "broker: policy denies %s as %s on %s (%s): %s\n", who.user, os_user, hosts[i],
				d.rule, d.reason);
			r = KB_ERR_DENIED;
		} else if (!d.ec2_instance_connect) {
			fprintf(stderr, "broker: role '%s' does not enable EC2 Instance Connect (set "
					"\"ec2_instance_connect\": true)\n", role);
			r = KB_ERR_DENIED;
		}
		kb_policy_decision_done(&d);
	}
out:
	kb_requester_done(&who);
	kb_policy_free(pol);
	return r;
}

static bool in_group(const json_t *list, const char *group, const char *host)
{
	const json_t *hosts = json_object_get(json_object_get(list, group), "hosts");
	size_t i;
	const json_t *h;

	json_array_foreach(hosts, i, h)
		if (strcmp(json_string_value(h), host) == 0)
			return true;
	return false;
}

static void print_results(const struct kb_ctx *ctx, const struct kb_ec2_target *t, const char **names, size_t n,
			  const char *user, const char *fp)
{
	int64_t now = (int64_t)time(NULL);
	json_t *arr = ctx->json ? json_array() : NULL;

	for (size_t i = 0; i < n; i++) {
		int64_t left = t[i].pushed_at + KB_EC2_KEY_LIFETIME_S - now;
		const char *status = t[i].err ? "failed" : t[i].skipped ? "cached" : "pushed";
		if (arr != NULL) {
			json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s}", "instance_id", t[i].instance_id, "host",
					      names[i], "os_user", user, "status", status, "attempts", (int)t[i].attempts,
					      "fingerprint", fp, "request_id", t[i].request_id);
			if (o != NULL && t[i].err == 0)
				json_object_set_new(o, "valid_for_s", json_integer(left > 0 ? left : 0));
			if (o != NULL && t[i].err != 0)
				json_object_set_new(o, "error", json_string(t[i].detail[0] ? t[i].detail : kb_err_str(t[i].err)));
			json_array_append_new(arr, o);
			continue;
		}
		if (t[i].err != 0)
			fprintf(stderr, "broker: %s: push failed: %s%s%s\n", names[i], kb_err_str(t[i].err),
				t[i].detail[0] ? ": " : "", t[i].detail);
		else if (t[i].skipped)
			printf("%s: %s for %s pushed %llds ago, valid about %llds more (not pushed again)\n", names[i], fp, user,
			       (long long)(now - t[i].pushed_at), (long long)(left > 0 ? left : 0));
		else
			printf("%s: pushed %s for %s (request %s, %u attempt%s), valid for %llds\n", names[i], fp, user,
			       t[i].request_id[0] ? t[i].request_id : "-", t[i].attempts, t[i].attempts == 1 ? "" : "s",
			       (long long)(left > 0 ? left : 0));
	}
	if (arr != NULL) {
		json_dumpf(arr, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(arr);
	}
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
		{ "profile", required_argument, NULL, 'p' },     { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ids[MAX_IDS], *state = NULL, *group = NULL, *user = NULL, *az = NULL, *keyfile = NULL,
				  *role = NULL;
	size_t nids = 0;
	uint64_t parallel = 8;
	struct kb_ec2_push_opts o = { 0 };
	struct kb_inventory *inv = NULL;
	struct kb_ec2_target *t = NULL;
	const char **names = NULL;
	char *pubkey = NULL, *cache = NULL, fp[96];
	bool no_cache = false;
	size_t n = 0;
	int c, r, rc = KB_EXIT_FAILURE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (nids == MAX_IDS)
				return kb_usage_error(ctx, "ec2 push: more than %d --instance-id", MAX_IDS);
			ids[nids++] = optarg;
			break;
		case 's': state = optarg; break;
		case 'g': group = optarg; break;
		case 'u': user = optarg; break;
		case 'z': az = optarg; break;
		case 'k': keyfile = optarg; break;
		case 'r': role = optarg; break;
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
	if (optind != argc)
		return kb_usage_error(ctx, "ec2 push: unexpected argument '%s'", argv[optind]);
	if ((nids == 0) == (state == NULL))
		return kb_usage_error(ctx, "ec2 push: give --instance-id ID (repeatable) or --terraform-state FILE");
	if (group != NULL && state == NULL)
		return kb_usage_error(ctx, "ec2 push: --group needs --terraform-state");
	if (user == NULL || !kb_fleet_valid_os_user(user))
		return kb_usage_error(ctx, "ec2 push: --os-user needs a valid OS user name (1-32 characters, "
					   "letters, digits, '.', '_', '-', '@')");
	if (az != NULL && !kb_fleet_valid_az(az))
		return kb_usage_error(ctx, "ec2 push: '%s' is not an availability zone name (like eu-west-1a)", az);
	for (size_t i = 0; i < nids; i++)
		if (!kb_fleet_valid_instance_id(ids[i]))
			return kb_usage_error(ctx, "ec2 push: '%s' is not an instance id (i- and 8 or 17 hex digits)",
					      ids[i]);
	if (keyfile == NULL)
		return kb_usage_error(ctx, "ec2 push: --key PUBFILE is required (the public key to push)");
	if ((r = kb_ec2_read_pubkey(keyfile, &pubkey, fp, sizeof(fp))) != 0)
		return kb_fail(ctx, r, "ec2 push: cannot use --key %s", keyfile);

	if (state != NULL) {
		struct kb_buf text;
		json_t *list = NULL;
		kb_buf_init(&text, KB_INVENTORY_STATE_MAX);
		r = kb_read_file(state, KB_INVENTORY_STATE_MAX, &text);
		if (r == 0)
			r = kb_inventory_parse((const char *)kb_buf_ptr(&text), kb_buf_remaining(&text), &inv);
		kb_buf_done(&text);
		if (r == 0 && group != NULL)
			r = kb_inventory_list_json(inv, NULL, &list);
		if (r != 0) {
			rc = kb_fail(ctx, r, "%s: cannot use this Terraform state", state);
			goto out;
		}
		t = calloc(inv->nhosts ? inv->nhosts : 1, sizeof(*t));
		names = calloc(inv->nhosts ? inv->nhosts : 1, sizeof(*names));
		if (t == NULL || names == NULL) {
			json_decref(list);
			rc = kb_fail(ctx, KB_ERR_NOMEM, "ec2 push");
			goto out;
		}
		for (size_t i = 0; i < inv->nhosts; i++) {
			const struct kb_inv_host *h = &inv->hosts[i];
			if (group != NULL && !in_group(list, group, h->name))
				continue;
			if (!kb_fleet_valid_instance_id(h->instance_id)) {
				json_decref(list);
				rc = kb_usage_error(ctx, "ec2 push: %s has instance id '%s', not an EC2 one", h->name,
						    h->instance_id);
				goto out;
			}
			t[n].instance_id = h->instance_id;
			t[n].az = az ? az : (kb_fleet_valid_az(h->az) ? h->az : NULL);
			names[n++] = h->name;
		}
		json_decref(list);
		if (n == 0) {
			rc = kb_fail(ctx, KB_ERR_NOT_FOUND, "ec2 push: no instances in %s%s%s", state,
				     group ? " group " : "", group ? group : "");
			goto out;
		}
	} else {
		t = calloc(nids, sizeof(*t));
		names = calloc(nids, sizeof(*names));
		if (t == NULL || names == NULL) {
			rc = kb_fail(ctx, KB_ERR_NOMEM, "ec2 push");
			goto out;
		}
		for (size_t i = 0; i < nids; i++) {
			t[i].instance_id = names[i] = ids[i];
			t[i].az = az;
		}
		n = nids;
	}
	if (role != NULL && (r = check_role(ctx, role, user, names, n)) != 0) {
		rc = kb_exit_for(r);
		goto out;
	}
	if (!no_cache && (cache = kb_ec2_default_cache_path()) == NULL) {
		rc = kb_fail(ctx, KB_ERR_IO, "ec2 push: no place for the push cache (set XDG_RUNTIME_DIR or HOME, or "
					     "pass --no-cache)");
		goto out;
	}
	o.os_user = user;
	o.pubkey = pubkey;
	o.fingerprint = fp;
	o.parallel = (unsigned)parallel;
	o.cache_path = cache;
	r = kb_ec2_push_many(&o, t, n);
	print_results(ctx, t, names, n, user, fp);
	rc = r == 0 ? KB_EXIT_OK : kb_exit_for(r);
out:
	free(cache);
	free(pubkey);
	free(t);
	free(names);
	kb_inventory_free(inv);
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
