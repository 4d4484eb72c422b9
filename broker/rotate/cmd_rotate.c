/* broker rotate --credential NAME... | --role R | --all [--target T]...
 *               [--known-hosts FILE] [--authorized-keys PATH] [--parallel N]
 *               [--connect-timeout D] [--command-timeout D] [--dry-run]
 *               [--resume-only] [--on-failure COMMAND] [--json]
 *
 * Rotates static credentials on their hosts (see rotate.h): credentials
 * one after another, the hosts of each in parallel (at most N). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "core/err.h"
#include "core/util.h"
#include "rotate/rotate_cli.h"
#include "rotate/rotate_int.h"
#include "store/store.h"

#define MAX_SELECT 256

static void usage(FILE *f)
{
	fprintf(f,
		"usage: broker rotate --credential NAME... | --role ROLE | --all [--target USER@HOST[:PORT]]...\n"
		"                     [--known-hosts FILE] [--authorized-keys PATH] [--parallel N]\n"
		"                     [--connect-timeout D] [--command-timeout D] [--dry-run]\n"
		"                     [--resume-only] [--on-failure COMMAND] [--json]\n"
		"  Rotates static (authorized_keys) credentials: a new key is stored as pending,\n"
		"  installed on every target (logged in with the current key), tested by logging in\n"
		"  with it, then made current, and only then is the old key removed from the targets.\n"
		"  A target that is down leaves the rotation pending (exit 7); the next run resumes.\n"
		"  --resume-only only finishes or resumes rotations under way (for a frequent timer).\n"
		"  --target keeps only credentials installed on that target (all of their targets\n"
		"  take part).  Host keys are checked against --known-hosts (~/.ssh/known_hosts).\n"
		"  --on-failure runs COMMAND with /bin/sh when anything is pending or failed\n"
		"  (BROKER_ROTATE_* variables, the JSON report on stdin).\n"
		"  Exit: 0 done, 7 pending, 1 failed, 2 usage, 4 no such credential.\n");
}

static bool has_target(const struct kb_static_cred *c, const struct kb_ssh_target *want, size_t nwant)
{
	for (size_t i = 0; i < nwant; i++)
		for (size_t k = 0; k < c->ntargets; k++)
			if (strcmp(c->targets[k].user, want[i].user) == 0 && strcmp(c->targets[k].host, want[i].host) == 0 &&
			    c->targets[k].port == want[i].port)
				return true;
	return false;
}

/* The credentials to rotate, by name, filtered by --target. */
static int select_names(struct kb_ctx *ctx, struct kb_rot_job *job, const char **creds, size_t ncreds,
			const char *role, bool all, const struct kb_ssh_target *targets, size_t ntargets,
			char ***ret, size_t *ret_n)
{
	char **names = NULL;
	size_t n = 0;
	int r;

	*ret = NULL;
	*ret_n = 0;
	if (ncreds > 0) {
		if ((names = calloc(ncreds, sizeof(*names))) == NULL)
			return kb_fail(ctx, KB_ERR_NOMEM, "rotate");
		for (size_t i = 0; i < ncreds; i++) {
			if ((r = kb_static_resolve(job->store, creds[i], NULL, &names[n])) != KB_OK) {
				kb_store_names_free(names, n);
				return kb_fail(ctx, r, "rotate: %s", creds[i]);
			}
			n++;
		}
	} else {
		char *prefix = all ? kb_strdup("keybroker/") : kb_asprintf("keybroker/%s/", role);
		if (prefix == NULL)
			return kb_fail(ctx, KB_ERR_NOMEM, "rotate");
		r = kb_static_list(job->store, prefix, &names, &n);
		free(prefix);
		if (r != KB_OK)
			return kb_fail(ctx, r, "rotate: cannot list credentials");
	}
	if (ntargets > 0) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			struct kb_static_cred *c = NULL;
			struct kb_store_sel sel = { .stage = KB_STAGE_CURRENT };
			bool keep = kb_static_get(job->store, names[i], &sel, false, &c, NULL) == KB_OK &&
				    has_target(c, targets, ntargets);
			kb_static_cred_free(c);
			if (keep)
				names[k++] = names[i];
			else
				free(names[i]);
		}
		n = k;
	}
	*ret = names;
	*ret_n = n;
	return KB_EXIT_OK;
}

int cmd_rotate(struct kb_ctx *ctx, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "credential", required_argument, NULL, 'c' },
		{ "role", required_argument, NULL, 'r' },
		{ "all", no_argument, NULL, 'a' },
		{ "target", required_argument, NULL, 'T' },
		{ "known-hosts", required_argument, NULL, 'k' },
		{ "authorized-keys", required_argument, NULL, 'A' },
		{ "parallel", required_argument, NULL, 'p' },
		{ "connect-timeout", required_argument, NULL, 'C' },
		{ "command-timeout", required_argument, NULL, 'M' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "resume-only", no_argument, NULL, 'R' },
		{ "on-failure", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kb_rot_cli o = { .parallel = 4 };
	const char *creds[MAX_SELECT], *role = NULL, *on_failure = NULL;
	struct kb_ssh_target targets[MAX_SELECT];
	size_t ncreds = 0, ntargets = 0, n = 0;
	struct kb_rot_job job;
	struct kb_rot_cred *rcs = NULL;
	char **names = NULL;
	bool all = false, resume_only = false;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+hn", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (ncreds == MAX_SELECT)
				return kb_usage_error(ctx, "rotate: more than %d --credential", MAX_SELECT);
			creds[ncreds++] = optarg;
			break;
		case 'r': role = optarg; break;
		case 'a': all = true; break;
		case 'T':
			if (ntargets == MAX_SELECT)
				return kb_usage_error(ctx, "rotate: more than %d --target", MAX_SELECT);
			if (kb_ssh_target_parse(optarg, &targets[ntargets]) != KB_OK)
				return kb_usage_error(ctx, "rotate: --target '%s': %s", optarg, kb_err_detail());
			ntargets++;
			break;
		case 'k': o.known_hosts = optarg; break;
		case 'A': o.authorized_keys = optarg; break;
		case 'p': {
			uint64_t v;
			if (kb_parse_u64(optarg, KB_ROT_PARALLEL_MAX, &v) != KB_OK || v == 0)
				return kb_usage_error(ctx, "rotate: --parallel '%s' must be 1 to %d", optarg,
						      KB_ROT_PARALLEL_MAX);
			o.parallel = (int)v;
			break;
		}
		case 'C': o.connect_timeout = optarg; break;
		case 'M': o.command_timeout = optarg; break;
		case 'n': o.dry_run = true; break;
		case 'R': resume_only = true; break;
		case 'F': on_failure = optarg; break;
		case 'h': usage(stdout); return KB_EXIT_OK;
		default: usage(stderr); return KB_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return kb_usage_error(ctx, "rotate: unexpected argument '%s' (use --credential NAME)", argv[optind]);
	if ((ncreds > 0) + (role != NULL) + all != 1)
		return kb_usage_error(ctx, "rotate: choose what to rotate: --credential NAME, --role ROLE or --all");
	if (role != NULL && !kb_static_name_valid(role))
		return kb_usage_error(ctx, "rotate: '%s' is not a valid role name", role);
	if (on_failure != NULL && on_failure[0] == '\0')
		return kb_usage_error(ctx, "rotate: --on-failure needs a command");
	if ((rc = kb_rot_cli_setup(ctx, &o, "rotate", &job)) != KB_EXIT_OK)
		goto out;
	if ((rc = select_names(ctx, &job, creds, ncreds, role, all, targets, ntargets, &names, &n)) != KB_EXIT_OK)
		goto out;
	if (n == 0) {
		if (ctx->verbosity >= 0)
			fprintf(stderr, "broker: rotate: no static credentials %s%s%s\n", all ? "in the store" : "for role ",
				all ? "" : role, ntargets ? " on the given targets" : "");
		if (ncreds == 0 && !ctx->json) {
			rc = KB_EXIT_OK;
			goto out;
		}
	}
	if (n > 0 && (rcs = calloc(n, sizeof(*rcs))) == NULL) {
		rc = kb_fail(ctx, KB_ERR_NOMEM, "rotate");
		goto out;
	}
	job.resume_only = resume_only;
	job.ui = kb_rot_ui_new(isatty(STDERR_FILENO) == 1, ctx->verbosity < 0);
	int64_t t0 = kb_rot_now_ms();
	for (size_t i = 0; i < n; i++) {
		rcs[i].name = names[i];
		names[i] = NULL;
		kb_rot_run(&job, &rcs[i]);
	}
	rc = kb_rot_cli_finish(ctx, rcs, n, o.dry_run, kb_rot_now_ms() - t0, on_failure);
out:
	for (size_t i = 0; rcs && i < n; i++)
		kb_rot_cred_done(&rcs[i]);
	free(rcs);
	kb_store_names_free(names, n);
	kb_rot_cli_done(&job);
	return rc;
}
