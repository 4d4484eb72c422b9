/* broker: the Keybroker command-line tool.  A table of subcommands, each in
 * its own cmd_<name>.c; global options may stand before or after the
 * subcommand name (but not after "--"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "core/log.h"
#include "core/mem.h"
#include "ctx.h"

struct command {
	const char *name;
	kb_cmd_fn fn;
	const char *summary;
};

static const struct command commands[] = {
	{ "key", cmd_key, "generate keys, print fingerprints" },
	{ "cert", cmd_cert, "sign and inspect OpenSSH certificates" },
	{ "krl", cmd_krl, "create and check key revocation lists" },
	{ "store", cmd_store, "read and write the secret backend" },
	{ "config", cmd_config, "show the effective configuration" },
	{ "policy", cmd_policy, "lint policies and explain decisions" },
	{ "audit", cmd_audit, "verify the tamper-evident audit log" },
	{ "ca", cmd_ca, "create, show and rotate the certificate authority" },
	{ "issue", cmd_issue, "issue a short-lived credential under a policy" },
	{ "serve", cmd_serve, "run the broker daemon" },
	{ "inventory", cmd_inventory, "Ansible inventory from Terraform state" },
	{ "ec2", cmd_ec2, "push keys with EC2 Instance Connect" },
	{ "authorized-keys", cmd_authorized_keys, "sshd AuthorizedKeysCommand helper" },
	{ "exec", cmd_exec, "run a command with a per-run agent and credential" },
	{ "revoke", cmd_revoke, "revoke certificates and keys; publish the KRL" },
	{ "static", cmd_static, "create static (authorized_keys) credentials" },
	{ "rotate", cmd_rotate, "rotate static keys on their hosts, safely" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: broker [--json] [--config FILE] [--backend local|aws|vault] [--policy FILE]\n"
		   "              [-v|-q] COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-16s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'broker COMMAND --help' for a command's options; see broker(1).\n");
}

/* Removes global options from argv in place; returns the new argc or -1
 * after printing an error. */
static int take_global_options(struct kb_ctx *ctx, int argc, char **argv, const char **backend,
			       const char **policy)
{
	int out = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;
		const char *opt = NULL;

		if (strcmp(a, "--") == 0) {
			while (i < argc)
				argv[out++] = argv[i++];
			break;
		}
		if (strcmp(a, "--json") == 0) {
			ctx->json = true;
			continue;
		}
		if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			ctx->verbosity++;
			continue;
		}
		if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			ctx->verbosity = -1;
			continue;
		}
		if (strncmp(a, "--config", 8) == 0 && (a[8] == '\0' || a[8] == '='))
			slot = &ctx->config_path, opt = "--config";
		else if (strncmp(a, "--backend", 9) == 0 && (a[9] == '\0' || a[9] == '='))
			slot = backend, opt = "--backend";
		else if (strncmp(a, "--policy", 8) == 0 && (a[8] == '\0' || a[8] == '='))
			slot = policy, opt = "--policy";
		if (slot == NULL) {
			argv[out++] = argv[i];
			continue;
		}
		const char *eq = strchr(a, '=');
		if (eq != NULL) {
			*slot = eq + 1;
		} else if (i + 1 < argc) {
			*slot = argv[++i];
		} else {
			fprintf(stderr, "broker: option %s needs a value\n", opt);
			return -1;
		}
	}
	argv[out] = NULL;
	return out;
}

static const char *override_backend, *override_policy;

struct kb_config *kb_ctx_config(struct kb_ctx *ctx)
{
	if (ctx->cfg != NULL)
		return ctx->cfg;
	int r = kb_config_load(ctx->config_path, &ctx->cfg);
	if (r != 0) {
		/* Nothing can run without its configuration: end here with the
		 * documented code (4 for a --config file that does not exist)
		 * rather than each command's generic failure. */
		exit(kb_fail(ctx, r, "cannot load configuration"));
	}
	if ((override_backend && kb_config_set(ctx->cfg, "backend", override_backend, "command line --backend")) ||
	    (override_policy && kb_config_set(ctx->cfg, "policy", override_policy, "command line --policy"))) {
		kb_fail(ctx, -1, "cannot apply command-line options");
		kb_config_free(ctx->cfg);
		ctx->cfg = NULL;
	}
	return ctx->cfg;
}

int main(int argc, char **argv)
{
	struct kb_ctx ctx = { .progname = "broker" };
	int rc;

	kb_log_init("broker", KB_LOG_WARN);
	if (kb_init() != 0) {
		fprintf(stderr, "broker: cannot initialise libsodium\n");
		return KB_EXIT_FAILURE;
	}
	kb_json_use_wiping_alloc();
	argc = take_global_options(&ctx, argc, argv, &override_backend, &override_policy);
	if (argc < 0)
		return KB_EXIT_USAGE;
	if (ctx.verbosity > 0)
		kb_log_set_level(ctx.verbosity > 1 ? KB_LOG_DEBUG : KB_LOG_INFO);
	else if (ctx.verbosity < 0)
		kb_log_set_level(KB_LOG_ERROR);
	if (argc < 2) {
		usage(stderr);
		return KB_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return KB_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("broker (keybroker) %s\n", KB_VERSION);
		return KB_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) == 0) {
			rc = commands[i].fn(&ctx, argc - 1, argv + 1);
			kb_config_free(ctx.cfg);
			return rc;
		}
	}
	fprintf(stderr, "broker: unknown command '%s'; run 'broker --help' for the list\n", argv[1]);
	return KB_EXIT_USAGE;
}
