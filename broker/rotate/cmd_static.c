/* broker static create NAME --target USER@HOST[:PORT]... [-t TYPE] [--role ROLE]
 *                      [--install [--known-hosts FILE] [--authorized-keys PATH] ...]
 * broker static install NAME [...]     (retry putting the key on its targets)
 * broker static list [--role ROLE]
 * broker static show NAME
 *
 * Static credentials are long-lived keys in authorized_keys for systems
 * that cannot use certificates (static_cred.h).  The private key stays in
 * the store: nothing here prints or writes it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "commands.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "issue/audit.h"
#include "rotate/rotate_cli.h"
#include "rotate/rotate_int.h"
#include "store/store.h"

static const char usage_text[] =
	"usage: broker static create NAME --target USER@HOST[:PORT]... [-t TYPE] [--role ROLE]\n"
	"                            [--install] [HOST OPTIONS]\n"
	"       broker static install NAME [--role ROLE] [HOST OPTIONS]\n"
	"       broker static list [--role ROLE]\n"
	"       broker static show NAME [--role ROLE]\n"
	"  A static credential is a long-lived key for authorized_keys, stored at\n"
	"  keybroker/ROLE/NAME (ROLE defaults to 'static') with the targets it is installed on.\n"
	"  --install (and 'install') put its public key on every target, logging in through\n"
	"  the keys your agent (SSH_AUTH_SOCK) holds, then log in with the new key to check.\n"
	"  HOST OPTIONS: --known-hosts FILE (~/.ssh/known_hosts) --authorized-keys PATH\n"
	"  --parallel N --connect-timeout D --command-timeout D.  Rotate with 'broker rotate'.\n"
	"  All accept --json.  TYPE: ed25519 (default), ecdsa-p256/384/521, rsa-2048/3072/4096.\n";

#define MAX_TARGETS KB_STATIC_TARGETS_MAX

struct sopts {
	struct kb_rot_cli cli;
	const char *role, *type;
	struct kb_ssh_target targets[MAX_TARGETS];
	size_t ntargets;
	bool install;
	const char *name;
};

static int parse(struct kb_ctx *ctx, int argc, char **argv, struct sopts *o)
{
	static const struct option lo[] = {
		{ "target", required_argument, NULL, 'T' },	{ "type", required_argument, NULL, 't' },
		{ "role", required_argument, NULL, 'r' },	{ "install", no_argument, NULL, 'i' },
		{ "known-hosts", required_argument, NULL, 'k' }, { "authorized-keys", required_argument, NULL, 'A' },
		{ "parallel", required_argument, NULL, 'p' },	{ "connect-timeout", required_argument, NULL, 'C' },
		{ "command-timeout", required_argument, NULL, 'M' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->cli.parallel = 4;
	/* From the subcommand on; NAME may stand before or after options. */
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt_long(argc, argv, "ht:", lo, NULL)) != -1) {
		switch (c) {
		case 'T':
			if (o->ntargets == MAX_TARGETS)
				return kb_usage_error(ctx, "static: more than %d --target", MAX_TARGETS);
			if (kb_ssh_target_parse(optarg, &o->targets[o->ntargets]) != KB_OK)
				return kb_usage_error(ctx, "static: --target '%s': %s", optarg, kb_err_detail());
			for (size_t i = 0; i < o->ntargets; i++)
				if (memcmp(&o->targets[i], &o->targets[o->ntargets], sizeof(o->targets[i])) == 0)
					return kb_usage_error(ctx, "static: --target '%s' given twice", optarg);
			o->ntargets++;
			break;
		case 't': o->type = optarg; break;
		case 'r': o->role = optarg; break;
		case 'i': o->install = true; break;
		case 'k': o->cli.known_hosts = optarg; break;
		case 'A': o->cli.authorized_keys = optarg; break;
		case 'p': {
			uint64_t v;
			if (kb_parse_u64(optarg, KB_ROT_PARALLEL_MAX, &v) != KB_OK || v == 0)
				return kb_usage_error(ctx, "static: --parallel '%s' must be 1 to %d", optarg,
						      KB_ROT_PARALLEL_MAX);
			o->cli.parallel = (int)v;
			break;
		}
		case 'C': o->cli.connect_timeout = optarg; break;
		case 'M': o->cli.command_timeout = optarg; break;
		case 'h': fputs(usage_text, stdout); return -1;
		default: fputs(usage_text, stderr); return KB_EXIT_USAGE;
		}
	}
	if (optind < argc)
		o->name = argv[optind++];
	if (optind < argc)
		return kb_usage_error(ctx, "static %s: unexpected argument '%s'", argv[0], argv[optind]);
	if (o->role != NULL && !kb_static_name_valid(o->role))
		return kb_usage_error(ctx, "static: '%s' is not a valid role name (1-64 of A-Z a-z 0-9 _ . @ -)", o->role);
	return KB_EXIT_OK;
}

static json_t *targets_json(const struct kb_static_cred *c)
{
	json_t *a = json_array();
	for (size_t i = 0; i < c->ntargets; i++) {
		char t[KB_STATIC_TARGET_LEN_MAX + 1];
		kb_ssh_target_format(&c->targets[i], t, sizeof(t));
		json_array_append_new(a, json_string(t));
	}
	return a;
}

static int run_install(struct kb_ctx *ctx, struct sopts *o, struct kb_rot_job *job, const char *name)
{
	struct kb_rot_cred rc = { 0 };
	const char *sock = getenv("SSH_AUTH_SOCK");

	if (sock == NULL || sock[0] == '\0')
		return kb_usage_error(ctx, "static: --install logs in through your agent, but SSH_AUTH_SOCK is not set "
					   "(start ssh-agent and ssh-add a key the targets accept)");
	job->agent_socket = sock;
	job->ui = kb_rot_ui_new(isatty(STDERR_FILENO) == 1, ctx->verbosity < 0);
	if ((rc.name = kb_strdup(name)) == NULL)
		return kb_fail(ctx, KB_ERR_NOMEM, "static");
	int64_t t0 = kb_rot_now_ms();
	kb_rot_install(job, &rc);
	int code = kb_rot_cli_finish(ctx, &rc, 1, false, kb_rot_now_ms() - t0, NULL);
	if (code != KB_EXIT_OK && rc.load.st == KB_ROT_OK)
		fprintf(stderr, "broker: static: %s is stored but not installed everywhere: fix the targets above, then "
				"run 'broker static install %s'\n",
			name, name);
	kb_rot_cred_done(&rc);
	(void)o;
	return code;
}

static int do_create(struct kb_ctx *ctx, struct sopts *o)
{
	const char *role = o->role ? o->role : KB_STATIC_DEFAULT_ROLE;
	struct kb_static_cred *c = NULL;
	struct kb_secret_info *info = NULL;
	struct kb_rot_job job;
	struct kb_buf val;
	char *name = NULL, *version = NULL, *pub = NULL;
	int r, rc;

	kb_buf_init_secure(&val, KB_STORE_VALUE_MAX);
	if (o->name == NULL || !kb_static_name_valid(o->name))
		return kb_usage_error(ctx, "static create: give a NAME (1-64 of A-Z a-z 0-9 _ . @ -)");
	if (o->ntargets == 0)
		return kb_usage_error(ctx, "static create: give at least one --target USER@HOST[:PORT]");
	o->cli.no_hosts = !o->install;
	if ((rc = kb_rot_cli_setup(ctx, &o->cli, "static create", &job)) != KB_EXIT_OK)
		goto out;
	if ((name = kb_asprintf("keybroker/%s/%s", role, o->name)) == NULL) {
		rc = kb_fail(ctx, KB_ERR_NOMEM, "static create");
		goto out;
	}
	if ((r = kb_store_describe(job.store, name, &info)) == KB_OK) {
		rc = kb_fail(ctx, KB_ERR_EXISTS,
			     "static create: %s exists (use 'broker rotate --credential %s' for a new key, 'broker static "
			     "install %s' to retry the install)",
			     name, name, name);
		goto out;
	} else if (r != KB_ERR_NOT_FOUND) {
		rc = kb_fail(ctx, r, "static create: cannot read %s", name);
		goto out;
	}
	if ((r = kb_static_cred_new(o->type, role, job.user, o->targets, o->ntargets, &c)) != KB_OK) {
		rc = r == KB_ERR_UNSUPPORTED || r == KB_ERR_ARGS ? kb_usage_error(ctx, "static create: %s", kb_err_detail())
								  : kb_fail(ctx, r, "static create");
		goto out;
	}
	if ((r = kb_static_cred_build(c, name, &val)) != KB_OK ||
	    (r = kb_store_put(job.store, name, kb_buf_ptr(&val), kb_buf_remaining(&val),
			      &(struct kb_store_put_opts){ .stage = KB_STAGE_CURRENT,
							   .description = "keybroker static SSH credential" },
			      &version)) != KB_OK) {
		rc = kb_fail(ctx, r, "static create: cannot store %s", name);
		goto out;
	}
	json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "event", "static-create", "requester", job.user,
			      "credential", name, "version", version, "fingerprint", c->fingerprint, "key_type",
			      kb_key_type_ssh_name(kb_key_type(c->key)), "targets", targets_json(c));
	r = e ? kb_audit_append(job.audit, e, NULL) : KB_ERR_NOMEM;
	json_decref(e);
	if (r != KB_OK) {
		rc = kb_fail(ctx, r, "static create: stored %s but cannot write the audit log", name);
		goto out;
	}
	if ((r = kb_key_format_public_line(c->key, name, &pub)) != KB_OK) {
		rc = kb_fail(ctx, r, "static create");
		goto out;
	}
	if (ctx->json && !o->install) {
		json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "name", name, "version", version, "fingerprint",
				      c->fingerprint, "key_type", kb_key_type_ssh_name(kb_key_type(c->key)), "public_key",
				      pub, "targets", targets_json(c));
		kb_print_json(j);
	} else if (ctx->verbosity >= 0) {
		fprintf(ctx->json ? stderr : stdout, "created %s (%s)\n  public key: %s\n  targets:   ", name, c->fingerprint,
			pub);
		for (size_t i = 0; i < c->ntargets; i++) {
			char t[KB_STATIC_TARGET_LEN_MAX + 1];
			kb_ssh_target_format(&c->targets[i], t, sizeof(t));
			fprintf(ctx->json ? stderr : stdout, " %s", t);
		}
		fputc('\n', ctx->json ? stderr : stdout);
	}
	rc = KB_EXIT_OK;
	if (o->install) {
		fflush(stdout);
		rc = run_install(ctx, o, &job, name);
	}
out:
	kb_buf_done(&val);
	kb_static_cred_free(c);
	kb_secret_info_free(info);
	free(name);
	free(version);
	free(pub);
	kb_rot_cli_done(&job);
	return rc;
}

static int do_install(struct kb_ctx *ctx, struct sopts *o)
{
	struct kb_rot_job job;
	char *name = NULL;
	int r, rc;

	if (o->name == NULL)
		return kb_usage_error(ctx, "static install: give the credential's NAME");
	if (o->ntargets > 0 || o->type != NULL)
		return kb_usage_error(ctx, "static install: --target and -t belong to 'static create'");
	if ((rc = kb_rot_cli_setup(ctx, &o->cli, "static install", &job)) != KB_EXIT_OK)
		goto out;
	if ((r = kb_static_resolve(job.store, o->name, o->role, &name)) != KB_OK) {
		rc = kb_fail(ctx, r, "static install");
		goto out;
	}
	rc = run_install(ctx, o, &job, name);
out:
	free(name);
	kb_rot_cli_done(&job);
	return rc;
}



int cmd_static(struct kb_ctx *ctx, int argc, char **argv)
{
	struct sopts *o;
	int rc;

	if (argc < 2) {
		fputs(usage_text, stderr);
		return KB_EXIT_USAGE;
	}
	const char *sub = argv[1];
	if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
		fputs(usage_text, stdout);
		return KB_EXIT_OK;
	}
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return kb_fail(ctx, KB_ERR_NOMEM, "static");
	if ((rc = parse(ctx, argc, argv, o)) != KB_EXIT_OK) {
		free(o);
		return rc < 0 ? KB_EXIT_OK : rc;
	}
	if (strcmp(sub, "create") == 0) {
		rc = do_create(ctx, o);
	} else if (strcmp(sub, "install") == 0) {
		rc = do_install(ctx, o);
	} else if (strcmp(sub, "list") == 0 || strcmp(sub, "ls") == 0 || strcmp(sub, "show") == 0) {
		bool show = strcmp(sub, "show") == 0;
		if (o->ntargets || o->type || o->install)
			rc = kb_usage_error(ctx, "static %s: only --role and --json apply", sub);
		else if (show && o->name == NULL)
			rc = kb_usage_error(ctx, "static show: give the credential's NAME");
		else if (!show && o->name != NULL)
			rc = kb_usage_error(ctx, "static list: unexpected argument '%s' (use --role ROLE)", o->name);
		else
			rc = kb_cmd_static_read(ctx, show, o->name, o->role);
	} else {
		rc = kb_usage_error(ctx, "unknown static command '%s' (create, install, list, show)", sub);
	}
	free(o);
	return rc;
}
