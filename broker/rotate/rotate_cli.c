/* Job setup shared by broker rotate and broker static (rotate_cli.h). */
#include "rotate/rotate_cli.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "issue/audit.h"
#include "rotate/rotate_int.h"
#include "rotate/rotate_report.h"
#include "store/store.h"

static int timeout_ms(struct kb_ctx *ctx, const char *opt, const char *v, int *ret)
{
	int64_t s;
	*ret = 0;
	if (v == NULL)
		return KB_EXIT_OK;
	if (kb_parse_duration(v, &s) != KB_OK || s < 1 || s > 3600)
		return kb_usage_error(ctx, "%s '%s' is not a duration between 1s and 1h (e.g. 10, 30s, 2m)", opt, v);
	*ret = (int)(s * 1000);
	return KB_EXIT_OK;
}

int kb_rot_cli_setup(struct kb_ctx *ctx, struct kb_rot_cli *o, const char *what, struct kb_rot_job *job)
{
	struct kb_config *cfg;
	struct passwd *pw = getpwuid(getuid());
	int rc, r;

	memset(job, 0, sizeof(*job));
	pthread_mutex_init(&job->lock, NULL);
	/* The job holds private keys: no core dumps, no ptrace by the same
	 * user. */
	if ((r = kb_harden_process()) != KB_OK)
		return kb_fail(ctx, r, "%s: cannot harden the process", what);
	if (o->parallel < 1 || o->parallel > KB_ROT_PARALLEL_MAX)
		return kb_usage_error(ctx, "%s: --parallel must be 1 to %d", what, KB_ROT_PARALLEL_MAX);
	if ((rc = timeout_ms(ctx, "--connect-timeout", o->connect_timeout, &job->base.connect_timeout_ms)) != 0 ||
	    (rc = timeout_ms(ctx, "--command-timeout", o->command_timeout, &job->base.command_timeout_ms)) != 0)
		return rc;
	if (o->no_hosts) {
		/* nothing to check */
	} else if (o->known_hosts != NULL) {
		kb_strlcpy(o->kh_path, o->known_hosts, sizeof(o->kh_path));
	} else {
		const char *home = getenv("HOME");
		if ((home == NULL || home[0] == '\0') && pw != NULL)
			home = pw->pw_dir;
		if (home == NULL || (size_t)snprintf(o->kh_path, sizeof(o->kh_path), "%s/.ssh/known_hosts", home) >=
					    sizeof(o->kh_path))
			return kb_usage_error(ctx, "%s: no home directory for ~/.ssh/known_hosts: give --known-hosts FILE",
					      what);
	}
	if (!o->no_hosts && access(o->kh_path, R_OK) != 0)
		return kb_fail(ctx, kb_err_errno(o->kh_path),
			       "%s: cannot read the known_hosts file (host keys are always verified; give "
			       "--known-hosts FILE)",
			       what);
	if (o->authorized_keys != NULL && (o->authorized_keys[0] == '\0' || !kb_str_printable(o->authorized_keys)))
		return kb_usage_error(ctx, "%s: --authorized-keys must be a path", what);
	job->base.known_hosts = o->kh_path;
	job->base.authorized_keys = o->authorized_keys;
	job->parallel = o->parallel;
	job->dry_run = o->dry_run;
	kb_strlcpy(o->user, pw ? pw->pw_name : "?", sizeof(o->user));
	job->user = o->user;
	if ((cfg = kb_ctx_config(ctx)) == NULL)
		return KB_EXIT_FAILURE;
	if ((r = kb_store_open(cfg, &job->store)) != KB_OK)
		return kb_fail(ctx, r, "%s: cannot open the %s backend", what,
			       kb_config_get(cfg, "backend") ? kb_config_get(cfg, "backend") : "local");
	if (!o->dry_run) {
		const char *log = kb_config_get(cfg, "audit.log");
		if (log == NULL)
			return kb_fail(ctx, KB_ERR_INVALID, "%s: no audit log configured (audit.log)", what);
		if ((r = kb_audit_open(log, kb_config_get(cfg, "audit.key"), &job->audit)) != KB_OK)
			return kb_fail(ctx, r, "%s: cannot open the audit log %s", what, log);
	}
	return KB_EXIT_OK;
}

void kb_rot_cli_done(struct kb_rot_job *job)
{
	kb_store_close(job->store);
	kb_audit_close(job->audit);
	kb_rot_ui_free(job->ui);
	pthread_mutex_destroy(&job->lock);
	memset(job, 0, sizeof(*job));
}

int kb_rot_cli_finish(struct kb_ctx *ctx, struct kb_rot_cred *creds, size_t n, bool dry_run, int64_t ms,
		      const char *on_failure)
{
	int rc = kb_rot_exit_code(creds, n);
	json_t *rep = kb_rot_report_json(creds, n, dry_run, ms, rc);
	char *text = rep ? json_dumps(rep, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

	json_decref(rep);
	if (ctx->json && text)
		puts(text);
	fflush(stdout);
	if (rc != KB_EXIT_OK && on_failure != NULL) {
		int r = kb_rot_on_failure(on_failure, creds, n, text ? text : "{}", rc);
		if (r != KB_OK)
			kb_fail(ctx, r, "--on-failure");
	}
	kb_json_free_string(text);
	return rc;
}
